#include "gelu_erf_kernel.hpp"

#include <cmath>

namespace gelu_erf_kernel {

namespace {

const double kInvSqrt2 = 0.70710678118654752440;    // 1 / sqrt(2)
const double kInvSqrt2Pi = 0.39894228040143267794;  // 1 / sqrt(2 pi) = phi(0)

}  // namespace

template <typename T>
void forward(const T* x, std::int64_t count, T* y) {
  for (std::int64_t i = 0; i < count; ++i) {
    const T v = x[i];
    y[i] = T(0.5) * v * (T(1) + std::erf(v * T(kInvSqrt2)));
  }
}

template <typename T>
void backward(const T* x, const T* dy, std::int64_t count, T* dx) {
  for (std::int64_t i = 0; i < count; ++i) {
    const T v = x[i];
    const T cdf = T(0.5) * (T(1) + std::erf(v * T(kInvSqrt2)));
    const T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * v * v);
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}

// Caffe instantiates its layers for float and double.
template void forward<float>(const float*, std::int64_t, float*);
template void forward<double>(const double*, std::int64_t, double*);
template void backward<float>(const float*, const float*, std::int64_t, float*);
template void backward<double>(const double*, const double*, std::int64_t, double*);

}  // namespace gelu_erf_kernel

// C entry points, for ctypes (gelu_erf_plugin.py): plain names and types, one per precision. They
// are in the kernels-only library (mxnet2caffe.caffe_layers.build_kernels) and, unused, in the
// Caffe layer library; the gelu_erf_ prefix keeps them apart from other layers' in that library.
extern "C" {

void gelu_erf_forward_f32(const float* x, std::int64_t count, float* y) { gelu_erf_kernel::forward(x, count, y); }

void gelu_erf_forward_f64(const double* x, std::int64_t count, double* y) { gelu_erf_kernel::forward(x, count, y); }

void gelu_erf_backward_f32(const float* x, const float* dy, std::int64_t count, float* dx) {
  gelu_erf_kernel::backward(x, dy, count, dx);
}

void gelu_erf_backward_f64(const double* x, const double* dy, std::int64_t count, double* dx) {
  gelu_erf_kernel::backward(x, dy, count, dx);
}

}  // extern "C"
