// The weight transforms of conversion, each equal to the numpy code it replaces: channel
// reversal (--swap-rgb), BatchNorm folding (--fuse-bn) and float16/float64 -> float32 (.params).
//
// Plain C++11 with no Python. The functions work on ranges so that callers may split large
// arrays between threads (parallel.hpp).
#ifndef MXNET2CAFFE_WEIGHTS_HPP_
#define MXNET2CAFFE_WEIGHTS_HPP_

#include <cstdint>
#include <string>
#include <vector>

namespace mxnet2caffe {

typedef std::vector<std::int64_t> Shape;  // the same type as broadcast.hpp's

// Why x of `shape` has no axis `axis` ("" when it has); axis may count from the end (-1 last).
std::string reverse_axis_error(const Shape& shape, std::int64_t axis);

// y = x with axis `axis` reversed (numpy.flip(x, axis)); y must not overlap x.
// Throws std::invalid_argument when x has no such axis.
template <typename T>
void reverse_axis(const T* x, const Shape& shape, std::int64_t axis, T* y);

// The per-channel statistics of BatchNorm + Scale as Caffe stores them (mean and variance
// multiplied by `factor`), each of `channels` values.
struct BatchNormStatistics {
  const double* mean;
  const double* variance;
  double factor;
  double eps;
  const double* gamma;
  const double* beta;
};

// How a producer's weights hold its output channels: Convolution and InnerProduct weights are
// (O, ...), channel o being weights[o]; Deconvolution weights are (I, O/groups, ...), channel
// g * (O/groups) + j being weights[g * (I/groups) : (g + 1) * (I/groups), j].
struct ChannelLayout {
  bool transposed;  // the Deconvolution layout
  std::int64_t groups;
};

// Why weights of `shape` in `layout` cannot be folded ("" when they can); their channel count
// goes to *channels.
std::string fold_batch_norm_error(const Shape& shape, const ChannelLayout& layout, std::int64_t* channels);

// BatchNorm + Scale after a producer, folded into its weights and bias, as
// passes/fuse_batch_norm.py computes it in float64 numpy (the same operations in the same order,
// so the same float32 results bit for bit): with inverse = 0 if factor == 0 else 1 / factor,
//   a = gamma / sqrt(variance * inverse + eps),   c = beta - mean * inverse * a,
//   weights'[channel o] = float32(weights * a[o]),  bias'[o] = float32(bias[o] * a[o] + c[o]).
// Where both factors of a product are NaN, which NaN comes out is left open by IEEE (and numpy's
// answer varies with its operands' alignment): only there may the bits differ from numpy's.
// Throws std::invalid_argument as fold_batch_norm_error says.
template <typename T>
void fold_batch_norm(const T* weights, const Shape& shape, const ChannelLayout& layout, const double* bias,
                     const BatchNormStatistics& statistics, float* folded_weights, float* folded_bias);

// float32 of `count` IEEE binary16 values (exact: every one is a float32), bytes swapped first
// when `swap` (the other byte order). NaNs keep their payload, as numpy's conversion does.
void half_to_float(const void* x, std::int64_t count, bool swap, float* y);

// float32 of `count` float64 values, rounded to nearest even as a C++ (and numpy) cast does,
// bytes swapped first when `swap`. x may be unaligned.
void double_to_float(const void* x, std::int64_t count, bool swap, float* y);

}  // namespace mxnet2caffe

#endif  // MXNET2CAFFE_WEIGHTS_HPP_
