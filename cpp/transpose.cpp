#include "mxnet2caffe/transpose.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <sstream>
#include <stdexcept>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

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

namespace {

// A tile is at most kTileRows rows by enough columns for about kTileValues values, at least
// kTileColumns: small enough for L1, large enough to spread the per-tile work. Runs of at least
// kLongRun values are copied as rows.
const std::int64_t kTileRows = 32, kTileColumns = 32, kTileValues = 4096, kLongRun = 16;

std::int64_t blocks(std::int64_t size, std::int64_t block) { return (size + block - 1) / block; }

// y[r * y_row + c * element + e] = x[r * element + c * x_column + e] for r < rows, c < columns,
// e < element.
template <typename T>
void transpose_tile_scalar(const T* x, std::int64_t x_column, std::int64_t rows, std::int64_t columns,
                           std::int64_t element, T* y, std::int64_t y_row) {
  for (std::int64_t r = 0; r < rows; ++r) {
    T* out = y + r * y_row;
    const T* in = x + r * element;
    if (element == 1) {
      for (std::int64_t c = 0; c < columns; ++c) out[c] = in[c * x_column];
    } else {
      for (std::int64_t c = 0; c < columns; ++c) {
        for (std::int64_t e = 0; e < element; ++e) out[c * element + e] = in[c * x_column + e];
      }
    }
  }
}

template <typename T>
void transpose_tile(const T* x, std::int64_t x_column, std::int64_t rows, std::int64_t columns, std::int64_t element,
                    T* y, std::int64_t y_row) {
  transpose_tile_scalar(x, x_column, rows, columns, element, y, y_row);
}

#if defined(__SSE__)
// Single values in four by four blocks of SSE registers (every x86-64 CPU has SSE); the edges
// value by value.
template <>
void transpose_tile<float>(const float* x, std::int64_t x_column, std::int64_t rows, std::int64_t columns,
                           std::int64_t element, float* y, std::int64_t y_row) {
  if (element != 1) {
    transpose_tile_scalar(x, x_column, rows, columns, element, y, y_row);
    return;
  }
  const std::int64_t rows4 = rows & ~std::int64_t(3), columns4 = columns & ~std::int64_t(3);
  for (std::int64_t r = 0; r < rows4; r += 4) {
    for (std::int64_t c = 0; c < columns4; c += 4) {
      const float* in = x + r + c * x_column;
      __m128 v0 = _mm_loadu_ps(in), v1 = _mm_loadu_ps(in + x_column);
      __m128 v2 = _mm_loadu_ps(in + 2 * x_column), v3 = _mm_loadu_ps(in + 3 * x_column);
      _MM_TRANSPOSE4_PS(v0, v1, v2, v3);
      float* out = y + r * y_row + c;
      _mm_storeu_ps(out, v0);
      _mm_storeu_ps(out + y_row, v1);
      _mm_storeu_ps(out + 2 * y_row, v2);
      _mm_storeu_ps(out + 3 * y_row, v3);
    }
  }
  if (columns4 < columns) {
    transpose_tile_scalar(x + columns4 * x_column, x_column, rows4, columns - columns4, 1, y + columns4, y_row);
  }
  if (rows4 < rows) transpose_tile_scalar(x + rows4, x_column, rows - rows4, columns, 1, y + rows4 * y_row, y_row);
}
#endif

// Takes the axis `at` out of `axes`.
TransposePlan::Axis take(std::vector<TransposePlan::Axis>* axes, std::size_t at) {
  const TransposePlan::Axis axis = (*axes)[at];
  axes->erase(axes->begin() + static_cast<std::ptrdiff_t>(at));
  return axis;
}

}  // namespace

TransposePlan::TransposePlan(const Shape& shape, const Permutation& permutation)
    : rows_{1, 0, 0},
      columns_{1, 0, 0},
      element_(1),
      copy_rows_(true),
      rows_step_(1),
      columns_step_(1),
      row_blocks_(0),
      column_blocks_(0),
      parts_(0) {
  check(shape, permutation);
  for (std::size_t axis = 0; axis < shape.size(); ++axis) {
    if (shape[axis] == 0) return;  // nothing to move
  }
  const auto walked = walk(shape, permutation);
  std::vector<Axis> axes;
  std::int64_t y_stride = 1;
  for (std::size_t a = walked.size(); a-- > 0;) {
    axes.insert(axes.begin(), Axis{walked[a].size, walked[a].x_stride, y_stride});
    y_stride *= walked[a].size;
  }
  const Axis inner = axes.back();
  if (inner.x_stride == 1) {  // y's innermost axis is a run in x too
    element_ = inner.size;
    axes.pop_back();
  }
  // the axis x holds as runs of element_ (there is one unless nothing is left to transpose)
  std::size_t contiguous = axes.size();
  for (std::size_t a = 0; a < axes.size(); ++a) {
    if (axes[a].x_stride == element_) contiguous = a;
  }
  copy_rows_ = element_ >= kLongRun || contiguous == axes.size();
  if (copy_rows_) {
    columns_ = Axis{1, 0, element_};  // one run per row
    if (!axes.empty()) rows_ = take(&axes, axes.size() - 1);
    rows_step_ = std::max<std::int64_t>(1, kTileValues / element_);
  } else {
    // y's innermost remaining axis is the columns (y_stride == element_): not x's run axis, or
    // the two would have been one
    columns_ = take(&axes, axes.size() - 1);
    rows_ = take(&axes, contiguous);
    rows_step_ = std::min(rows_.size, kTileRows);
    columns_step_ = std::max(kTileColumns, kTileValues / (rows_step_ * element_));
  }
  outer_ = axes;
  std::int64_t outer = 1;
  for (std::size_t a = 0; a < outer_.size(); ++a) outer *= outer_[a].size;
  row_blocks_ = blocks(rows_.size, rows_step_);
  column_blocks_ = blocks(columns_.size, columns_step_);
  parts_ = outer * row_blocks_ * column_blocks_;
}

template <typename T>
void TransposePlan::run(const T* x, T* y, std::int64_t begin, std::int64_t end) const {
  std::int64_t last_outer = -1, x_offset = 0, y_offset = 0;
  for (std::int64_t part = begin; part < end; ++part) {
    const std::int64_t column_block = part % column_blocks_;
    const std::int64_t row_block = (part / column_blocks_) % row_blocks_;
    const std::int64_t outer = part / (column_blocks_ * row_blocks_);
    if (outer != last_outer) {  // the offsets of this position of the outer axes
      x_offset = y_offset = 0;
      std::int64_t rest = outer;
      for (std::size_t a = outer_.size(); a-- > 0;) {
        const std::int64_t index = rest % outer_[a].size;
        rest /= outer_[a].size;
        x_offset += index * outer_[a].x_stride;
        y_offset += index * outer_[a].y_stride;
      }
      last_outer = outer;
    }
    const std::int64_t row = row_block * rows_step_, rows = std::min(rows_step_, rows_.size - row);
    const std::int64_t column = column_block * columns_step_;
    const std::int64_t columns = std::min(columns_step_, columns_.size - column);
    const T* in = x + x_offset + row * rows_.x_stride + column * columns_.x_stride;
    T* out = y + y_offset + row * rows_.y_stride + column * columns_.y_stride;
    if (copy_rows_) {
      const std::size_t bytes = static_cast<std::size_t>(element_) * sizeof(T);
      for (std::int64_t r = 0; r < rows; ++r) std::memcpy(out + r * rows_.y_stride, in + r * rows_.x_stride, bytes);
    } else {
      transpose_tile(in, columns_.x_stride, rows, columns, element_, out, rows_.y_stride);
    }
  }
}

template <typename T>
void transpose_forward(const T* x, const Shape& shape, const Permutation& permutation, T* y) {
  const TransposePlan plan(shape, permutation);
  plan.run(x, y, 0, plan.parts());
}

template <typename T>
void transpose_backward(const T* dy, const Shape& shape, const Permutation& permutation, T* dx) {
  transpose_forward(dy, transpose_output_shape(shape, permutation), inverse_permutation(permutation), dx);
}

template void TransposePlan::run<float>(const float*, float*, std::int64_t, std::int64_t) const;
template void TransposePlan::run<double>(const double*, double*, std::int64_t, std::int64_t) const;
template void transpose_forward<float>(const float*, const Shape&, const Permutation&, float*);
template void transpose_forward<double>(const double*, const Shape&, const Permutation&, double*);
template void transpose_backward<float>(const float*, const Shape&, const Permutation&, float*);
template void transpose_backward<double>(const double*, const Shape&, const Permutation&, double*);

}  // namespace mxnet2caffe
