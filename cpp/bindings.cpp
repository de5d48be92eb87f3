// The only file that knows about Python: exposes the plain C++ kernels as mxnet2caffe._native.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "blob_encoding.hpp"
#include "mxnet2caffe/broadcast_mul.hpp"

namespace py = pybind11;

namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

py::bytes encode_blob(const FloatArray& array) {
  std::vector<std::int64_t> shape(array.shape(), array.shape() + array.ndim());
  std::string encoded;
  {
    py::gil_scoped_release release;
    encoded = mxnet2caffe::encode_blob(array.data(), static_cast<std::size_t>(array.size()), shape);
  }
  return py::bytes(encoded);
}

py::bytes encode_blobs_field(const std::vector<FloatArray>& arrays, std::uint32_t field) {
  std::string out;
  for (const FloatArray& array : arrays) {
    std::vector<std::int64_t> shape(array.shape(), array.shape() + array.ndim());
    mxnet2caffe::append_length_delimited(
        out, field, mxnet2caffe::encode_blob(array.data(), static_cast<std::size_t>(array.size()), shape));
  }
  return py::bytes(out);
}

py::bytes length_delimited(std::uint32_t field, const std::string& payload) {
  std::string out;
  mxnet2caffe::append_length_delimited(out, field, payload);
  return py::bytes(out);
}

FloatArray broadcast_mul(const FloatArray& x, const FloatArray& s) {
  const mxnet2caffe::Shape x_shape(x.shape(), x.shape() + x.ndim());
  const mxnet2caffe::Shape s_shape(s.shape(), s.shape() + s.ndim());
  FloatArray y(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
  float* out = y.mutable_data();
  {
    py::gil_scoped_release release;
    mxnet2caffe::broadcast_mul_forward(x.data(), x_shape, s.data(), s_shape, out);
  }
  return y;
}

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "Native kernels of mxnet2caffe (weight blob serialization, broadcast_mul).";
  m.def("encode_blob", &encode_blob, py::arg("array"),
        "Serialized caffe.BlobProto (shape + packed float32 data) of an array.");
  m.def("encode_blobs_field", &encode_blobs_field, py::arg("arrays"), py::arg("field"),
        "Each array as a BlobProto in repeated message field `field`, concatenated.");
  m.def("length_delimited", &length_delimited, py::arg("field"), py::arg("payload"),
        "A length-delimited protobuf field (tag, length, payload).");
  m.def("broadcast_mul", &broadcast_mul, py::arg("x"), py::arg("s"),
        "x * s in float32, s broadcast to x's shape (same rank, each axis x's size or 1); "
        "ValueError when it does not broadcast.");
  m.def("broadcast_mul_shape_error", &mxnet2caffe::broadcast_mul_shape_error, py::arg("x_shape"),
        py::arg("s_shape"), "Why s_shape does not broadcast to x_shape for broadcast_mul, or \"\".");
}
