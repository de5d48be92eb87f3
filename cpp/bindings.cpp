// The only file that knows about Python: exposes the plain C++ kernels as mxnet2caffe._native.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <vector>

#include "mxnet2caffe/broadcast.hpp"
#include "mxnet2caffe/transpose.hpp"

namespace py = pybind11;

namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

FloatArray broadcast(mxnet2caffe::BroadcastOp op, const FloatArray& a, const FloatArray& b) {
  const mxnet2caffe::Shape a_shape(a.shape(), a.shape() + a.ndim());
  const mxnet2caffe::Shape b_shape(b.shape(), b.shape() + b.ndim());
  const mxnet2caffe::Shape shape = mxnet2caffe::broadcast_output_shape(a_shape, b_shape);
  FloatArray y(std::vector<py::ssize_t>(shape.begin(), shape.end()));
  float* out = y.mutable_data();
  {
    py::gil_scoped_release release;
    mxnet2caffe::broadcast_forward(op, a.data(), a_shape, b.data(), b_shape, out);
  }
  return y;
}

FloatArray transpose(const FloatArray& x, const mxnet2caffe::Permutation& permutation) {
  const mxnet2caffe::Shape shape(x.shape(), x.shape() + x.ndim());
  const mxnet2caffe::Shape out_shape = mxnet2caffe::transpose_output_shape(shape, permutation);
  FloatArray y(std::vector<py::ssize_t>(out_shape.begin(), out_shape.end()));
  float* out = y.mutable_data();
  {
    py::gil_scoped_release release;
    mxnet2caffe::transpose_forward(x.data(), shape, permutation, out);
  }
  return y;
}

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "Native kernels of mxnet2caffe (broadcast arithmetic, transpose), shared with the Caffe layers.";
  py::enum_<mxnet2caffe::BroadcastOp>(m, "BroadcastOp", "The operation of broadcast(op, a, b).")
      .value("mul", mxnet2caffe::BroadcastOp::kMul)
      .value("add", mxnet2caffe::BroadcastOp::kAdd)
      .value("sub", mxnet2caffe::BroadcastOp::kSub)
      .value("div", mxnet2caffe::BroadcastOp::kDiv);
  m.def("broadcast", &broadcast, py::arg("op"), py::arg("a"), py::arg("b"),
        "a op b in float32, where one of a and b broadcasts to the other (same rank, each axis the "
        "other's size or 1); ValueError when they do not broadcast so.");
  m.def("broadcast_output_shape", &mxnet2caffe::broadcast_output_shape, py::arg("a_shape"), py::arg("b_shape"),
        "The shape of broadcast(op, a, b); ValueError saying why when they do not broadcast.");
  m.def("transpose", &transpose, py::arg("array"), py::arg("permutation"),
        "The array in float32 with its axes reordered, axis i being axis permutation[i] of the input "
        "(numpy.transpose); ValueError when permutation is not an order of the array's axes.");
  m.def("transpose_output_shape", &mxnet2caffe::transpose_output_shape, py::arg("shape"), py::arg("permutation"),
        "The shape of transpose(array, permutation) for an array of `shape`; ValueError saying why when "
        "permutation is not an order of its axes.");
}
