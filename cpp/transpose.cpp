#include "mxnet2caffe/transpose.hpp"

#include <algorithm>
#include <cstddef>
#include <sstream>
#include <stdexcept>

namespace mxnet2caffe {

namespace {

std::string describe(const std::vector<std::int64_t>& values) {
  std::ostringstream out;
  out << "(";
  for (std::size_t i = 0; i < values.size(); ++i) out << (i ? "," : "") << values[i];
  out << ")";
  return out.str();
}

// What keeps `permutation` from ordering the axes of x, or "".
std::string permutation_problem(const Shape& shape, const Permutation& permutation) {
  using std::to_string;
  if (permutation.size() != shape.size()) {
    return "the order has " + to_string(permutation.size()) + " axes and the tensor " + to_string(shape.size());
  }
  for (std::size_t axis = 0; axis < shape.size(); ++axis) {
    if (shape[axis] < 0) return "axis " + to_string(axis) + " of the tensor is negative";
  }
  std::vector<bool> seen(shape.size(), false);
  for (std::size_t i = 0; i < permutation.size(); ++i) {
    const std::int64_t axis = permutation[i];
    if (axis < 0 || axis >= static_cast<std::int64_t>(shape.size()) || seen[axis]) {
      return "it is not an order of the axes 0.." + to_string(shape.size() - 1) + ", each once";
    }
    seen[axis] = true;
  }
  return std::string();
}

void check(const Shape& shape, const Permutation& permutation) {
  const std::string error = transpose_error(shape, permutation);
  if (!error.empty()) throw std::invalid_argument(error);
}

// An axis of y as the loops walk it: its size and the step in x for one step along it.
struct Axis {
  std::int64_t size;
  std::int64_t x_stride;
};

// y's axes, outermost first, with x's strides. Axes of size 1 move nothing and are dropped;
// neighbours in y that are neighbours in x in the same order are one axis (an NCHW -> NHWC
// transpose becomes (N, H*W, C) read from (N, C, H*W)). At least one axis.
std::vector<Axis> walk(const Shape& shape, const Permutation& permutation) {
  std::vector<std::int64_t> strides(shape.size());
  std::int64_t stride = 1;
  for (std::size_t axis = shape.size(); axis-- > 0;) {
    strides[axis] = stride;
    stride *= shape[axis];
  }
  std::vector<Axis> axes;
  for (std::size_t i = 0; i < permutation.size(); ++i) {
    const std::int64_t size = shape[permutation[i]], x_stride = strides[permutation[i]];
    if (size == 1) continue;
    if (!axes.empty() && axes.back().x_stride == x_stride * size) {
      axes.back().size *= size;
      axes.back().x_stride = x_stride;
    } else {
      axes.push_back(Axis{size, x_stride});
    }
  }
  if (axes.empty()) axes.push_back(Axis{1, 1});  // a single element
  return axes;
}

}  // namespace

std::string transpose_error(const Shape& shape, const Permutation& permutation) {
  const std::string problem = permutation_problem(shape, permutation);
  if (problem.empty()) return problem;
  return "cannot transpose " + describe(shape) + " by " + describe(permutation) + ": " + problem;
}

Shape transpose_output_shape(const Shape& shape, const Permutation& permutation) {
  check(shape, permutation);
  Shape out(shape.size());
  for (std::size_t i = 0; i < permutation.size(); ++i) out[i] = shape[permutation[i]];
  return out;
}

Permutation inverse_permutation(const Permutation& permutation) {
  Permutation inverse(permutation.size());
  for (std::size_t i = 0; i < permutation.size(); ++i) inverse[permutation[i]] = static_cast<std::int64_t>(i);
  return inverse;
}

template <typename T>
void transpose_forward(const T* x, const Shape& shape, const Permutation& permutation, T* y) {
  check(shape, permutation);
  for (std::size_t axis = 0; axis < shape.size(); ++axis) {
    if (shape[axis] == 0) return;  // nothing to move
  }
  // y is written in order, one row (y's innermost axis) at a time; an odometer over the outer
  // axes keeps the x offset of the row's first element
  const std::vector<Axis> axes = walk(shape, permutation);
  const Axis inner = axes.back();
  const std::size_t depth = axes.size() - 1;
  std::int64_t rows = 1;
  for (std::size_t a = 0; a < depth; ++a) rows *= axes[a].size;
  std::vector<std::int64_t> index(depth, 0);
  std::int64_t offset = 0;
  for (std::int64_t row = 0; row < rows; ++row, y += inner.size) {
    if (inner.x_stride == 1) {
      std::copy(x + offset, x + offset + inner.size, y);
    } else {
      for (std::int64_t i = 0; i < inner.size; ++i) y[i] = x[offset + i * inner.x_stride];
    }
    for (std::size_t a = depth; a-- > 0;) {
      offset += axes[a].x_stride;
      if (++index[a] < axes[a].size) break;
      offset -= axes[a].x_stride * axes[a].size;
      index[a] = 0;
    }
  }
}

template <typename T>
void transpose_backward(const T* dy, const Shape& shape, const Permutation& permutation, T* dx) {
  transpose_forward(dy, transpose_output_shape(shape, permutation), inverse_permutation(permutation), dx);
}

template void transpose_forward<float>(const float*, const Shape&, const Permutation&, float*);
template void transpose_forward<double>(const double*, const Shape&, const Permutation&, double*);
template void transpose_backward<float>(const float*, const Shape&, const Permutation&, float*);
template void transpose_backward<double>(const double*, const Shape&, const Permutation&, double*);

}  // namespace mxnet2caffe
