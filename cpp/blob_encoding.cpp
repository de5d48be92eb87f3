#include "blob_encoding.hpp"

#include <cstring>
#include <stdexcept>

namespace mxnet2caffe {

namespace {
constexpr std::uint32_t kWireLengthDelimited = 2;
constexpr std::uint32_t kBlobShapeDim = 1;
constexpr std::uint32_t kBlobProtoData = 5;
constexpr std::uint32_t kBlobProtoShape = 7;

bool host_is_little_endian() {
  const std::uint16_t probe = 1;
  unsigned char first = 0;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}
}  // namespace

void append_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void append_length_delimited(std::string& out, std::uint32_t field, const std::string& payload) {
  append_varint(out, (static_cast<std::uint64_t>(field) << 3) | kWireLengthDelimited);
  append_varint(out, payload.size());
  out.append(payload);
}

std::string encode_blob(const float* data, std::size_t count, const std::vector<std::int64_t>& shape) {
  std::int64_t expected = 1;
  for (std::int64_t dim : shape) {
    if (dim < 0) throw std::invalid_argument("blob shape has a negative dimension");
    expected *= dim;
  }
  if (static_cast<std::size_t>(expected) != count) {
    throw std::invalid_argument("blob shape does not match the number of values");
  }
  if (!host_is_little_endian()) {
    throw std::runtime_error("caffemodel encoding needs a little-endian host");
  }

  std::string dims;
  for (std::int64_t dim : shape) append_varint(dims, static_cast<std::uint64_t>(dim));
  std::string blob_shape;
  append_length_delimited(blob_shape, kBlobShapeDim, dims);

  std::string out;
  out.reserve(count * sizeof(float) + blob_shape.size() + 32);
  append_length_delimited(out, kBlobProtoShape, blob_shape);
  // packed floats: one tag, one length, then the raw IEEE-754 little-endian values
  append_varint(out, (static_cast<std::uint64_t>(kBlobProtoData) << 3) | kWireLengthDelimited);
  append_varint(out, count * sizeof(float));
  out.append(reinterpret_cast<const char*>(data), count * sizeof(float));
  return out;
}

}  // namespace mxnet2caffe
