// MXNet's transpose and SwapAxis: y = x with its axes reordered, axis i of y being axis
// permutation[i] of x (numpy.transpose(x, permutation)). Any number of axes.
//
// Plain C++11 with no Caffe and no Python: the same code serves the Python module, the Caffe
// plugin library and a Caffe source tree, where it is included as "mxnet2caffe/transpose.hpp".
#ifndef MXNET2CAFFE_TRANSPOSE_HPP_
#define MXNET2CAFFE_TRANSPOSE_HPP_

#include <cstdint>
#include <string>
#include <vector>

namespace mxnet2caffe {

typedef std::vector<std::int64_t> Shape;  // the same type as broadcast.hpp's
// An order of the axes 0 .. n-1 of an n-axis tensor, each once.
typedef std::vector<std::int64_t> Permutation;

// Why x of `shape` cannot be transposed by `permutation` ("" when it can): for callers that
// report errors their own way.
std::string transpose_error(const Shape& shape, const Permutation& permutation);

// The shape of y: shape[permutation[i]] for each axis i.
// Throws std::invalid_argument when `permutation` is not an order of x's axes.
Shape transpose_output_shape(const Shape& shape, const Permutation& permutation);

// The permutation that undoes `permutation` (a valid one).
Permutation inverse_permutation(const Permutation& permutation);

// y = x transposed; y must not overlap x. Throws std::invalid_argument as above.
template <typename T>
void transpose_forward(const T* x, const Shape& shape, const Permutation& permutation, T* y);

// The gradient of y = transpose(x): dx = dy transposed back (by the inverse permutation); x has
// `shape`. dx is overwritten, not added to, and must not overlap dy.
template <typename T>
void transpose_backward(const T* dy, const Shape& shape, const Permutation& permutation, T* dx);

}  // namespace mxnet2caffe

#endif  // MXNET2CAFFE_TRANSPOSE_HPP_
