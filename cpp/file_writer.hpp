// Writing a file from pieces laid end to end, on several threads: the .caffemodel's headers and
// float data, most of the data in the .params file the converter read.
//
// Plain C++11 and POSIX with no Python. The Linux calls (fallocate, splice, sync_file_range) only
// make it faster: elsewhere the bytes written are the same.
#ifndef MXNET2CAFFE_FILE_WRITER_HPP_
#define MXNET2CAFFE_FILE_WRITER_HPP_

#include <cstdint>
#include <vector>

namespace mxnet2caffe {

// A read-only map of a whole file, and the file, open for reading.
struct MappedSource {
  const char* begin;
  std::int64_t size;
  int fd;
};

struct Piece {
  const char* data;
  std::int64_t size;
  // The map the piece lies in, or nullptr. Such a piece is read from the file, not through the
  // map: the page cache's pages go to the output without being mapped into this process (which
  // would map whole folios, reaching into the pieces beside it), so that the process stays small.
  const MappedSource* source;
};

// Writes the pieces one after another into the open file `fd` from byte `offset` on, on up to
// `threads` threads. The file's blocks are reserved first; with `writeback`, the disk write of
// each few MB is started as soon as they are written, so that a final fsync has little left to
// wait for. Returns 0, or the errno of the first call that failed (EIO if a source file is
// shorter than its map, EINVAL for a file opened for appending, where pwrite ignores offsets);
// the file then holds some of the bytes.
int write_pieces(int fd, std::int64_t offset, const std::vector<Piece>& pieces, unsigned threads, bool writeback);

}  // namespace mxnet2caffe

#endif  // MXNET2CAFFE_FILE_WRITER_HPP_
