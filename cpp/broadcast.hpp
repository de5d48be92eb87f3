// MXNet's broadcast_mul, broadcast_add, broadcast_sub and broadcast_div where one operand
// broadcasts to the other: y = a op b, with a and b of the same rank, and one of them (either)
// of the result's shape while each axis of the other is that size or 1 (SE blocks: x N,C,H,W
// times s N,C,1,1; also s - x, s / x).
//
// Plain C++11 with no Caffe and no Python: the same code serves the Python module, the Caffe
// plugin library and a Caffe source tree, where it is included as "mxnet2caffe/broadcast.hpp".
#ifndef MXNET2CAFFE_BROADCAST_HPP_
#define MXNET2CAFFE_BROADCAST_HPP_

#include <cstdint>
#include <string>
#include <vector>

namespace mxnet2caffe {

typedef std::vector<std::int64_t> Shape;

// The operation of y = a op b. (caffe/layers/mx_broadcast_layer.hpp declares it opaquely, so
// that Caffe's installed headers need none of ours: keep the underlying type int.)
enum class BroadcastOp : int { kMul, kAdd, kSub, kDiv };

// Why a and b do not broadcast to one of them ("" when they do): for callers that report errors
// their own way.
std::string broadcast_shape_error(const Shape& a_shape, const Shape& b_shape);

// The shape of a op b: the shape of the operand the other broadcasts to.
// Throws std::invalid_argument when they do not broadcast so.
Shape broadcast_output_shape(const Shape& a_shape, const Shape& b_shape);

// y = a op b, y of broadcast_output_shape; y may be the operand of that shape itself.
// Throws std::invalid_argument when the shapes do not broadcast.
template <typename T>
void broadcast_forward(BroadcastOp op, const T* a, const Shape& a_shape, const T* b, const Shape& b_shape, T* y);

// Gradients of y = a op b given dy (y's shape): each operand's elementwise derivative times dy,
// summed over the axes where that operand broadcasts. mul: da = dy * b, db = dy * a; add:
// da = db = dy; sub: da = dy, db = -dy; div: da = dy / b, db = -dy * a / b^2. Either output may
// be null to skip it; both are overwritten, not added to.
template <typename T>
void broadcast_backward(BroadcastOp op, const T* dy, const T* a, const Shape& a_shape, const T* b,
                        const Shape& b_shape, T* da, T* db);

}  // namespace mxnet2caffe

#endif  // MXNET2CAFFE_BROADCAST_HPP_
