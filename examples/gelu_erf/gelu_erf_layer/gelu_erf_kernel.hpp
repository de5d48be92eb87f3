// GeluErf's computation in plain C++, with no Caffe and no Python: GELU with the exact erf,
// elementwise,
//     y = x / 2 * (1 + erf(x / sqrt(2)))
// The Caffe layer (gelu_erf_layer.cpp) calls it, and so does the OpenCV DNN custom layer
// (gelu_erf_plugin.py, through the C entry points at the end of gelu_erf_kernel.cpp), so every
// runtime computes the same numbers with the same code.
#ifndef GELU_ERF_KERNEL_HPP_
#define GELU_ERF_KERNEL_HPP_

#include <cstdint>

namespace gelu_erf_kernel {

// y[i] = gelu(x[i]) for i < count; y may be x (in place).
template <typename T>
void forward(const T* x, std::int64_t count, T* y);

// The gradient of forward: dx[i] = dy[i] * gelu'(x[i]), where
// gelu'(x) = (1 + erf(x / sqrt(2))) / 2 + x * phi(x) and phi is the standard normal density.
// It needs the input x (gelu is not invertible); dx may be dy (in place), not x.
template <typename T>
void backward(const T* x, const T* dy, std::int64_t count, T* dx);

}  // namespace gelu_erf_kernel

#endif  // GELU_ERF_KERNEL_HPP_
