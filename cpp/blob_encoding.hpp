// Protobuf wire encoding of Caffe weight blobs, without libprotobuf.
//
// A caffemodel is mostly float data; encoding it here keeps conversion of large models
// fast and lets the Caffe layers and the Python package share one implementation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mxnet2caffe {

// Appends `value` as a protobuf base-128 varint.
void append_varint(std::string& out, std::uint64_t value);

// Appends a length-delimited field: tag (field, wire type 2), length, payload.
void append_length_delimited(std::string& out, std::uint32_t field, const std::string& payload);

// Serialized caffe.BlobProto: shape (field 7, BlobShape.dim packed int64) and
// data (field 5, packed float32, little-endian).
std::string encode_blob(const float* data, std::size_t count, const std::vector<std::int64_t>& shape);

}  // namespace mxnet2caffe
