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

// transpose_forward cut into parts that may run in any order, on any threads (each writes its
// own values of y): TransposePlan(shape, permutation).run(x, y, 0, plan.parts()) is
// transpose_forward. y is written tile by tile: a tile is a block of the axis that x holds
// contiguously (`rows`) by a block of the axis that y holds contiguously (`columns`), so that
// reads and writes both stay within a few cache lines. Where y's innermost axis is contiguous in
// x too, its values move as one element (a row of a 3x3 kernel), or whole rows are copied when
// they are long.
class TransposePlan {
 public:
  // Throws std::invalid_argument when `permutation` is not an order of x's axes.
  TransposePlan(const Shape& shape, const Permutation& permutation);
  // The number of parts (0 when x has no values).
  std::int64_t parts() const { return parts_; }
  // Writes the parts [begin, end) of y.
  template <typename T>
  void run(const T* x, T* y, std::int64_t begin, std::int64_t end) const;

  struct Axis {
    std::int64_t size;
    std::int64_t x_stride;
    std::int64_t y_stride;
  };

 private:
  std::vector<Axis> outer_;  // the other axes of y, walked one position per tile, outermost first
  Axis rows_;                // the tiles' rows: x_stride == element_ (copied rows: any axis)
  Axis columns_;             // the tiles' columns: y_stride == element_
  std::int64_t element_;     // values moved together: y's innermost axis when x holds it contiguously
  bool copy_rows_;           // a tile row is one run of columns_.size * element_ values in x and y
  std::int64_t rows_step_, columns_step_, row_blocks_, column_blocks_, parts_;
};

// The gradient of y = transpose(x): dx = dy transposed back (by the inverse permutation); x has
// `shape`. dx is overwritten, not added to, and must not overlap dy.
template <typename T>
void transpose_backward(const T* dy, const Shape& shape, const Permutation& permutation, T* dx);

}  // namespace mxnet2caffe

#endif  // MXNET2CAFFE_TRANSPOSE_HPP_
