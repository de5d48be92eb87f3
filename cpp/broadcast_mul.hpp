// MXNet's broadcast_mul where only the second operand broadcasts: y = x * s, with s of x's rank
// and each of its dimensions equal to x's or 1 (SE blocks: x N,C,H,W times s N,C,1,1).
//
// Plain C++11 with no Caffe and no Python: the same code serves the Python module, the Caffe
// plugin library and a Caffe source tree, where it is included as "mxnet2caffe/broadcast_mul.hpp".
#ifndef MXNET2CAFFE_BROADCAST_MUL_HPP_
#define MXNET2CAFFE_BROADCAST_MUL_HPP_

#include <cstdint>
#include <string>
#include <vector>

namespace mxnet2caffe {

typedef std::vector<std::int64_t> Shape;

// Why s cannot broadcast to x ("" when it can): for callers that report errors their own way.
std::string broadcast_mul_shape_error(const Shape& x_shape, const Shape& s_shape);

// y = x * s broadcast to x's shape; y has x's shape and may be x itself.
// Throws std::invalid_argument when s does not broadcast to x.
template <typename T>
void broadcast_mul_forward(const T* x, const Shape& x_shape, const T* s, const Shape& s_shape, T* y);

// Gradients of y = x * s given dy (x's shape): dx = dy * s broadcast, ds = dy * x summed over the
// axes where s broadcasts. Either output may be null to skip it; both are overwritten, not added to.
template <typename T>
void broadcast_mul_backward(const T* dy, const T* x, const Shape& x_shape, const T* s, const Shape& s_shape,
                            T* dx, T* ds);

}  // namespace mxnet2caffe

#endif  // MXNET2CAFFE_BROADCAST_MUL_HPP_
