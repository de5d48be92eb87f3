#include "mxnet2caffe/weights.hpp"

#include <cmath>
#include <cstring>
#include <stdexcept>

namespace mxnet2caffe {

namespace {

std::int64_t product(const Shape& shape, std::size_t from, std::size_t to) {
  std::int64_t count = 1;
  for (std::size_t axis = from; axis < to; ++axis) count *= shape[axis];
  return count;
}

std::uint16_t swapped(std::uint16_t value) { return static_cast<std::uint16_t>((value >> 8) | (value << 8)); }

std::uint64_t swapped(std::uint64_t value) {
  value = ((value & 0x00ff00ff00ff00ffull) << 8) | ((value >> 8) & 0x00ff00ff00ff00ffull);
  value = ((value & 0x0000ffff0000ffffull) << 16) | ((value >> 16) & 0x0000ffff0000ffffull);
  return (value << 32) | (value >> 32);
}

template <typename Bits>
Bits load(const unsigned char* bytes, bool swap) {
  Bits value;
  std::memcpy(&value, bytes, sizeof(Bits));  // x may be unaligned (a view into a mapped file)
  return swap ? swapped(value) : value;
}

// Without branches, so that the loops over it vectorize.
float half_bits_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = h & 0x7c00u, magnitude = h & 0x7fffu;
  // normal: the exponent rebiased from 15 to 127; inf and NaN (payload kept): all ones
  const std::uint32_t normal = (magnitude << 13) + 0x38000000u, special = (magnitude << 13) | 0x7f800000u;
  // zero and subnormal: significand * 2^-24, exact in float32
  const float small = static_cast<float>(h & 0x03ffu) * 5.9604644775390625e-8f;
  std::uint32_t small_bits;
  std::memcpy(&small_bits, &small, sizeof small_bits);
  const std::uint32_t bits = sign | (exponent == 0 ? small_bits : exponent == 0x7c00u ? special : normal);
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

}  // namespace

std::string reverse_axis_error(const Shape& shape, std::int64_t axis) {
  const std::int64_t rank = static_cast<std::int64_t>(shape.size());
  if (axis < -rank || axis >= rank) {
    return "cannot reverse axis " + std::to_string(axis) + " of a tensor with " + std::to_string(rank) + " axes";
  }
  return std::string();
}

template <typename T>
void reverse_axis(const T* x, const Shape& shape, std::int64_t axis, T* y) {
  const std::string error = reverse_axis_error(shape, axis);
  if (!error.empty()) throw std::invalid_argument(error);
  const std::size_t at = static_cast<std::size_t>(axis < 0 ? axis + static_cast<std::int64_t>(shape.size()) : axis);
  const std::int64_t outer = product(shape, 0, at), size = shape[at], inner = product(shape, at + 1, shape.size());
  const std::size_t bytes = static_cast<std::size_t>(inner) * sizeof(T);
  for (std::int64_t o = 0; o < outer; ++o) {
    const T* in = x + o * size * inner;
    T* out = y + o * size * inner;
    for (std::int64_t i = 0; i < size; ++i) {
      if (bytes) std::memcpy(out + (size - 1 - i) * inner, in + i * inner, bytes);
    }
  }
}

std::string fold_batch_norm_error(const Shape& shape, const ChannelLayout& layout, std::int64_t* channels) {
  if (shape.size() < (layout.transposed ? 2u : 1u)) return "the weights have too few axes to hold output channels";
  if (layout.groups < 1) return "groups must be at least 1";
  if (!layout.transposed) {
    *channels = shape[0];
    return std::string();
  }
  if (shape[0] % layout.groups != 0) {
    return "Deconvolution weights of " + std::to_string(shape[0]) + " input channels cannot be split into " +
           std::to_string(layout.groups) + " groups";
  }
  *channels = shape[1] * layout.groups;
  return std::string();
}

template <typename T>
void fold_batch_norm(const T* weights, const Shape& shape, const ChannelLayout& layout, const double* bias,
                     const BatchNormStatistics& statistics, float* folded_weights, float* folded_bias) {
  std::int64_t channels = 0;
  const std::string error = fold_batch_norm_error(shape, layout, &channels);
  if (!error.empty()) throw std::invalid_argument(error);
  // Caffe divides the stored statistics by the factor, and takes a factor of 0 as 0
  const double inverse = statistics.factor == 0 ? 0.0 : 1.0 / statistics.factor;
  std::vector<double> a(static_cast<std::size_t>(channels));
  for (std::int64_t o = 0; o < channels; ++o) {
    a[o] = statistics.gamma[o] / std::sqrt(statistics.variance[o] * inverse + statistics.eps);
    const double c = statistics.beta[o] - statistics.mean[o] * inverse * a[o];
    folded_bias[o] = static_cast<float>(bias[o] * a[o] + c);
  }
  // weights as (groups, rows of a group, channels of a group, values of a channel)
  const std::int64_t groups = layout.transposed ? layout.groups : 1;
  const std::int64_t rows = layout.transposed ? shape[0] / groups : 1;
  const std::int64_t per_group = channels / groups;
  const std::int64_t values = product(shape, layout.transposed ? 2 : 1, shape.size());
  for (std::int64_t g = 0; g < groups; ++g) {
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t j = 0; j < per_group; ++j) {
        const double scale = a[g * per_group + j];
        const std::int64_t start = ((g * rows + r) * per_group + j) * values;
        for (std::int64_t v = start; v < start + values; ++v) {
          folded_weights[v] = static_cast<float>(static_cast<double>(weights[v]) * scale);
        }
      }
    }
  }
}

void half_to_float(const void* x, std::int64_t count, bool swap, float* y) {
  const unsigned char* bytes = static_cast<const unsigned char*>(x);
  if (swap) {
    for (std::int64_t i = 0; i < count; ++i) y[i] = half_bits_to_float(load<std::uint16_t>(bytes + 2 * i, true));
  } else {  // the common case as its own loop, for the vectorizer
    for (std::int64_t i = 0; i < count; ++i) y[i] = half_bits_to_float(load<std::uint16_t>(bytes + 2 * i, false));
  }
}

void double_to_float(const void* x, std::int64_t count, bool swap, float* y) {
  const unsigned char* bytes = static_cast<const unsigned char*>(x);
  for (std::int64_t i = 0; i < count; ++i) {
    const std::uint64_t bits = load<std::uint64_t>(bytes + 8 * i, swap);
    double value;
    std::memcpy(&value, &bits, sizeof value);
    y[i] = static_cast<float>(value);
  }
}

template void reverse_axis<float>(const float*, const Shape&, std::int64_t, float*);
template void reverse_axis<double>(const double*, const Shape&, std::int64_t, double*);
template void fold_batch_norm<float>(const float*, const Shape&, const ChannelLayout&, const double*,
                                     const BatchNormStatistics&, float*, float*);
template void fold_batch_norm<double>(const double*, const Shape&, const ChannelLayout&, const double*,
                                      const BatchNormStatistics&, float*, float*);

}  // namespace mxnet2caffe
