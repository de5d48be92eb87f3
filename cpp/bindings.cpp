// The only file that knows about Python: exposes the plain C++ kernels as mxnet2caffe._native.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "blob_encoding.hpp"

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

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "Native kernels of mxnet2caffe (weight blob serialization).";
  m.def("encode_blob", &encode_blob, py::arg("array"),
        "Serialized caffe.BlobProto (shape + packed float32 data) of an array.");
  m.def("encode_blobs_field", &encode_blobs_field, py::arg("arrays"), py::arg("field"),
        "Each array as a BlobProto in repeated message field `field`, concatenated.");
  m.def("length_delimited", &length_delimited, py::arg("field"), py::arg("payload"),
        "A length-delimited protobuf field (tag, length, payload).");
}
