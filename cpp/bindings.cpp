// The only file that knows about Python: exposes the plain C++ kernels as mxnet2caffe._native.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cerrno>
#include <memory>
#include <unordered_map>
#include <stdexcept>
#include <utility>
#include <vector>

#include "mxnet2caffe/broadcast.hpp"
#include "mxnet2caffe/file_writer.hpp"
#include "mxnet2caffe/parallel.hpp"
#include "mxnet2caffe/transpose.hpp"
#include "mxnet2caffe/weights.hpp"

namespace py = pybind11;

namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using DoubleArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

mxnet2caffe::Shape shape_of(const py::array& array) {
  return mxnet2caffe::Shape(array.shape(), array.shape() + array.ndim());
}

FloatArray float_array(const mxnet2caffe::Shape& shape) {
  return FloatArray(std::vector<py::ssize_t>(shape.begin(), shape.end()));
}

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
  FloatArray y = float_array(out_shape);
  const float* in = x.data();
  float* out = y.mutable_data();
  {
    py::gil_scoped_release release;
    const mxnet2caffe::TransposePlan plan(shape, permutation);
    const unsigned threads = mxnet2caffe::threads_for(2 * static_cast<std::int64_t>(x.nbytes()));
    mxnet2caffe::parallel_for(plan.parts(), threads,
                              [&](std::int64_t begin, std::int64_t end) { plan.run(in, out, begin, end); });
  }
  return y;
}

FloatArray reverse_axis(const FloatArray& x, std::int64_t axis) {
  const mxnet2caffe::Shape shape = shape_of(x);
  const std::string error = mxnet2caffe::reverse_axis_error(shape, axis);
  if (!error.empty()) throw py::value_error(error);
  FloatArray y = float_array(shape);
  const float* in = x.data();
  float* out = y.mutable_data();
  py::gil_scoped_release release;
  mxnet2caffe::reverse_axis(in, shape, axis, out);
  return y;
}

template <typename T>
std::pair<FloatArray, FloatArray> fold_batch_norm_as(const py::array_t<T, py::array::c_style>& weights,
                                                     const mxnet2caffe::ChannelLayout& layout, const DoubleArray& bias,
                                                     const mxnet2caffe::BatchNormStatistics& statistics) {
  const mxnet2caffe::Shape shape = shape_of(weights);
  FloatArray folded_weights = float_array(shape);
  FloatArray folded_bias = float_array(mxnet2caffe::Shape{bias.size()});
  const T* in = weights.data();
  float* out_weights = folded_weights.mutable_data();
  float* out_bias = folded_bias.mutable_data();
  py::gil_scoped_release release;
  mxnet2caffe::fold_batch_norm(in, shape, layout, bias.data(), statistics, out_weights, out_bias);
  return std::make_pair(folded_weights, folded_bias);
}

std::pair<FloatArray, FloatArray> fold_batch_norm(const py::array& weights, const DoubleArray& bias,
                                                  const DoubleArray& mean, const DoubleArray& variance, double factor,
                                                  double eps, const DoubleArray& gamma, const DoubleArray& beta,
                                                  std::int64_t groups, bool transposed) {
  const mxnet2caffe::ChannelLayout layout{transposed, groups};
  std::int64_t channels = 0;
  const std::string error = mxnet2caffe::fold_batch_norm_error(shape_of(weights), layout, &channels);
  if (!error.empty()) throw py::value_error(error);
  const std::pair<const char*, const DoubleArray*> vectors[] = {
      {"bias", &bias}, {"mean", &mean}, {"variance", &variance}, {"gamma", &gamma}, {"beta", &beta}};
  for (const auto& vector : vectors) {
    if (vector.second->size() != channels) {
      throw py::value_error(std::string(vector.first) + " has " + std::to_string(vector.second->size()) +
                            " values for weights of " + std::to_string(channels) + " output channels");
    }
  }
  const mxnet2caffe::BatchNormStatistics statistics{mean.data(), variance.data(), factor, eps, gamma.data(),
                                                    beta.data()};
  // float32 weights are read as they are; anything else is widened to float64 first (exactly,
  // as numpy's asarray(weights, float64) does)
  if (py::isinstance<py::array_t<float, py::array::c_style>>(weights)) {
    return fold_batch_norm_as<float>(weights.cast<py::array_t<float, py::array::c_style>>(), layout, bias, statistics);
  }
  return fold_batch_norm_as<double>(DoubleArray::ensure(weights), layout, bias, statistics);
}

FloatArray to_float32(const py::array& array) {
  const py::dtype dtype = array.dtype();
  if (dtype.kind() != 'f' || (dtype.itemsize() != 2 && dtype.itemsize() != 8)) {
    throw py::value_error("to_float32 takes float16 or float64 arrays, not " + py::str(dtype).cast<std::string>());
  }
  const bool swap = !dtype.attr("isnative").cast<bool>();  // stored in the other byte order
  const py::array x = array.flags() & py::array::c_style
                          ? array
                          : py::array(py::module_::import("numpy").attr("ascontiguousarray")(array));
  FloatArray y = float_array(shape_of(x));
  const unsigned char* in = static_cast<const unsigned char*>(x.data());
  float* out = y.mutable_data();
  const std::int64_t count = x.size(), itemsize = dtype.itemsize();
  py::gil_scoped_release release;
  const unsigned threads = mxnet2caffe::threads_for(count * (itemsize + 4));
  mxnet2caffe::parallel_for(count, threads, [&](std::int64_t begin, std::int64_t end) {
    if (itemsize == 2) {
      mxnet2caffe::half_to_float(in + begin * itemsize, end - begin, swap, out + begin);
    } else {
      mxnet2caffe::double_to_float(in + begin * itemsize, end - begin, swap, out + begin);
    }
  });
  return y;
}

// A C-contiguous buffer of a Python object (bytes, a numpy array, a memoryview, an mmap), held
// while native code reads it; let go with the GIL held.
class HeldBuffer {
 public:
  explicit HeldBuffer(py::handle object) {
    if (PyObject_GetBuffer(object.ptr(), &view_, PyBUF_C_CONTIGUOUS) != 0) throw py::error_already_set();
  }
  ~HeldBuffer() { PyBuffer_Release(&view_); }
  HeldBuffer(const HeldBuffer&) = delete;
  HeldBuffer& operator=(const HeldBuffer&) = delete;

  const char* data() const { return static_cast<const char*>(view_.buf); }
  std::int64_t size() const { return static_cast<std::int64_t>(view_.len); }

 private:
  Py_buffer view_;
};

void write_pieces(int fd, std::int64_t offset, const py::sequence& pieces, bool writeback, unsigned threads) {
  std::vector<std::unique_ptr<HeldBuffer>> held;
  std::unordered_map<PyObject*, mxnet2caffe::MappedSource> sources;  // by map (its nodes stay put)
  std::vector<mxnet2caffe::Piece> list;
  held.reserve(pieces.size());
  list.reserve(pieces.size());
  std::int64_t total = 0;
  for (py::handle item : pieces) {
    const auto pair = item.cast<std::pair<py::object, py::object>>();  // (buffer, (map, fd) or None)
    held.push_back(std::make_unique<HeldBuffer>(pair.first));
    list.push_back(mxnet2caffe::Piece{held.back()->data(), held.back()->size(), nullptr});
    total += list.back().size;
    if (pair.second.is_none()) continue;
    const auto source = pair.second.cast<std::pair<py::object, int>>();
    auto known = sources.find(source.first.ptr());
    if (known == sources.end()) {
      held.push_back(std::make_unique<HeldBuffer>(source.first));
      known = sources.emplace(source.first.ptr(), mxnet2caffe::MappedSource{held.back()->data(), held.back()->size(),
                                                                             source.second}).first;
    }
    const mxnet2caffe::MappedSource& map = known->second;
    const mxnet2caffe::Piece& piece = list.back();
    if (piece.data < map.begin || piece.data + piece.size > map.begin + map.size) {
      throw py::value_error("a piece does not lie in the map given with it");
    }
    list.back().source = &map;
  }
  int error = 0;
  {
    py::gil_scoped_release release;
    const unsigned used = threads != 0 ? threads : mxnet2caffe::threads_for(2 * total);
    error = mxnet2caffe::write_pieces(fd, offset, list, used, writeback);
  }
  if (error != 0) {
    errno = error;
    PyErr_SetFromErrno(PyExc_OSError);
    throw py::error_already_set();
  }
}

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "Native kernels of mxnet2caffe: broadcast arithmetic and transpose (shared with the Caffe layers) and the "
          "weight transforms of conversion.";
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
  m.def("reverse_axis", &reverse_axis, py::arg("array"), py::arg("axis"),
        "The array in float32 with axis `axis` (negative: from the end) reversed (numpy.flip); "
        "ValueError when it has no such axis.");
  m.def("fold_batch_norm", &fold_batch_norm, py::arg("weights"), py::arg("bias"), py::arg("mean"),
        py::arg("variance"), py::arg("factor"), py::arg("eps"), py::arg("gamma"), py::arg("beta"),
        py::arg("groups"), py::arg("transposed"),
        "(weights', bias') in float32: BatchNorm (mean, variance, factor, eps) + Scale (gamma, beta) folded "
        "into the weights and bias before them, computed in float64 as passes/fuse_batch_norm.py does. "
        "Output channel o is weights[o], or with transposed (Deconvolution) weights[g*(I/groups):"
        "(g+1)*(I/groups), j] for o = g*(O/groups) + j; ValueError when the sizes disagree.");
  m.def("to_float32", &to_float32, py::arg("array"),
        "A float16 or float64 array (either byte order, any strides) as C-contiguous float32, as "
        "numpy's astype(float32) converts it; ValueError for other dtypes.");
  m.def("transpose_output_shape", &mxnet2caffe::transpose_output_shape, py::arg("shape"), py::arg("permutation"),
        "The shape of transpose(array, permutation) for an array of `shape`; ValueError saying why when "
        "permutation is not an order of its axes.");
  m.def("write_pieces", &write_pieces, py::arg("fd"), py::arg("offset"), py::arg("pieces"), py::arg("writeback"),
        py::arg("threads") = 0,
        "Writes the pieces, (buffer, source) pairs of C-contiguous buffers, one after another into the open "
        "regular file `fd` from byte `offset` on (pwrite: the file position does not move), on up to `threads` "
        "threads (0: as many as are worth it). The file's blocks are reserved first. `source` is None or "
        "(map, file descriptor): a read-only map of a whole file that the buffer lies in, and that file open for "
        "reading, from which the bytes are read instead (on Linux, spliced: never mapped into the process). "
        "With writeback, the disk write of each few MB starts as soon as they are written. ValueError for a "
        "piece outside its map; OSError (the file then "
        "holds some of the bytes), the buffer's own error for one that is not C-contiguous (numpy's: ValueError).");
}
