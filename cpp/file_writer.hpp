// Writing a file from pieces of memory laid end to end, on several threads: the .caffemodel's
// headers and float data, most of the data in a read-only map of the .params file.
//
// Plain C++11 and POSIX with no Python. The Linux calls (fallocate, sync_file_range,
// MADV_POPULATE_READ) only make it faster: where they are missing, the bytes are the same.
#ifndef MXNET2CAFFE_FILE_WRITER_HPP_
#define MXNET2CAFFE_FILE_WRITER_HPP_

#include <cstdint>
#include <vector>

namespace mxnet2caffe {

// Bytes of a read-only shared map of a whole file.
struct Map {
  const char* begin;
  std::int64_t size;
};

struct Piece {
  const char* data;
  std::int64_t size;
  // The map the piece lies in, or nullptr. Its pages are mapped into the process in one call
  // before they are written and unmapped after (the page cache keeps them), so that the process
  // stays small; the map's bounds say how far around the piece that may go: the kernel maps
  // whole folios of the page cache, which reach into the pieces beside it.
  const Map* map;
};

// Writes the pieces one after another into the open file `fd` from byte `offset` on, on up to
// `threads` threads. The file's blocks are reserved first; with `writeback`, the disk write
// of each few MB is started as soon as they are written, so that a final fsync has little
// left to wait for. Returns 0, or the errno of the first call that failed (the file then
// holds some of the bytes).
int write_pieces(int fd, std::int64_t offset, const std::vector<Piece>& pieces, unsigned threads, bool writeback);

}  // namespace mxnet2caffe

#endif  // MXNET2CAFFE_FILE_WRITER_HPP_
