#include "mxnet2caffe/file_writer.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "mxnet2caffe/parallel.hpp"

namespace mxnet2caffe {

namespace {

// Pieces smaller than this (headers, biases) are gathered and written together: a system call
// each would cost more than the copy.
const std::int64_t kGatheredBelow = 64 * 1024;
const std::int64_t kGatherCapacity = 1 << 20;
// A large piece is written in steps of this size: its pages mapped in, written, unmapped.
// Writeback is started every time this much more is written.
const std::int64_t kStep = 4 << 20;
// Each thread's share of the file begins on a multiple of this.
const std::int64_t kShareUnit = 1 << 20;

#if defined(__linux__) && !defined(MADV_POPULATE_READ)
#define MADV_POPULATE_READ 22  // linux/mman.h, Linux 5.14; older headers lack it
#endif

std::int64_t page_size() {
  static const std::int64_t size = sysconf(_SC_PAGESIZE);
  return size;
}

// madvise on the pages holding begin..end; only a hint, so a failure (an older kernel) is ignored:
// the bytes written are the same.
void advise(std::uintptr_t begin, std::uintptr_t end, int advice) {
  const std::uintptr_t start = begin - begin % static_cast<std::uintptr_t>(page_size());
  if (end > start) madvise(reinterpret_cast<void*>(start), end - start, advice);
}

// The page cache's folios are at most the size a page-table page maps (2 MiB with 4 KiB pages),
// and aligned to their size in the file.
std::uintptr_t largest_folio() {
  return static_cast<std::uintptr_t>(page_size()) * (static_cast<std::uintptr_t>(page_size()) / sizeof(void*));
}

// Maps in the pages of the map that hold data..data+size, in one call.
void map_in(const char* data, std::int64_t size) {
#ifdef MADV_POPULATE_READ
  const std::uintptr_t begin = reinterpret_cast<std::uintptr_t>(data);
  advise(begin, begin + static_cast<std::uintptr_t>(size), MADV_POPULATE_READ);
#else
  (void)data;
  (void)size;
#endif
}

// Unmaps the pages that reading data..data+size from the map may have mapped: those of every
// folio it touched, which can reach past it on both sides (within the map: beyond it lies other
// memory, which MADV_DONTNEED would clear).
void map_out(const Map& map, const char* data, std::int64_t size) {
  const std::uintptr_t base = reinterpret_cast<std::uintptr_t>(map.begin), folio = largest_folio();
  const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(data) - base;
  const std::uintptr_t last = first + static_cast<std::uintptr_t>(size);
  const std::uintptr_t end = std::min(static_cast<std::uintptr_t>(map.size), (last + folio - 1) / folio * folio);
  advise(base + first / folio * folio, base + end, MADV_DONTNEED);
}

// One thread's writing of a contiguous share of the output, in order.
class ShareWriter {
 public:
  // writes bytes from `begin` of the output on
  ShareWriter(int fd, std::int64_t offset, std::int64_t begin, bool writeback, std::atomic<int>* error)
      : fd_(fd), offset_(offset), writeback_(writeback), error_(error), written_(begin), writeback_started_(begin) {
    gathered_.reserve(kGatherCapacity);
  }

  // Bytes from..to of the piece, which belong at `position` of the output (from `offset`).
  void write(const Piece& piece, std::int64_t from, std::int64_t to, std::int64_t position) {
    if (piece.size < kGatheredBelow) {
      gather(piece.data + from, to - from, position);
      if (piece.map != nullptr) map_out(*piece.map, piece.data + from, to - from);
      return;
    }
    flush_gathered();
    for (std::int64_t step = from; step < to && !failed(); step += kStep) {
      const std::int64_t size = std::min(kStep, to - step);
      const char* data = piece.data + step;
      if (piece.map != nullptr) map_in(data, size);
      write_at(data, size, position + step - from);
      if (piece.map != nullptr) map_out(*piece.map, data, size);
      start_writeback(position + step - from + size);
    }
  }

  void finish() {
    flush_gathered();
    if (!failed() && written_ > writeback_started_) start_writeback(written_, true);
  }

 private:
  bool failed() const { return error_->load(std::memory_order_relaxed) != 0; }

  void fail(int number) {
    int none = 0;
    error_->compare_exchange_strong(none, number);
  }

  void gather(const char* data, std::int64_t size, std::int64_t position) {
    if (gathered_.size() + static_cast<std::size_t>(size) > static_cast<std::size_t>(kGatherCapacity)) {
      flush_gathered();
    }
    if (gathered_.empty()) gathered_at_ = position;
    gathered_.insert(gathered_.end(), data, data + size);
  }

  void flush_gathered() {
    if (gathered_.empty()) return;
    write_at(gathered_.data(), static_cast<std::int64_t>(gathered_.size()), gathered_at_);
    gathered_.clear();
  }

  void write_at(const char* data, std::int64_t size, std::int64_t position) {
    while (size > 0 && !failed()) {
      const ssize_t count = pwrite(fd_, data, static_cast<std::size_t>(size), offset_ + position);
      if (count < 0 && errno == EINTR) continue;
      if (count <= 0) {
        fail(count < 0 ? errno : EIO);
        return;
      }
      data += count;
      size -= count;
      position += count;
    }
    written_ = position;
  }

  // Asks the kernel to start the disk write of what this share wrote since the last time,
  // once that is a step's worth (or at the end): a hint, which the final fsync does not rely on.
  void start_writeback(std::int64_t end, bool last = false) {
    if (!writeback_ || (!last && end - writeback_started_ < kStep)) return;
#ifdef __linux__
    sync_file_range(fd_, offset_ + writeback_started_, end - writeback_started_, SYNC_FILE_RANGE_WRITE);
#endif
    writeback_started_ = end;
  }

  const int fd_;
  const std::int64_t offset_;
  const bool writeback_;
  std::atomic<int>* const error_;
  std::vector<char> gathered_;
  std::int64_t gathered_at_ = 0;
  std::int64_t written_;            // the end of what this share wrote so far
  std::int64_t writeback_started_;  // up to where writeback was asked for
};

}  // namespace

int write_pieces(int fd, std::int64_t offset, const std::vector<Piece>& pieces, unsigned threads, bool writeback) {
  std::vector<std::int64_t> starts(pieces.size() + 1, 0);  // where each piece begins in the output
  for (std::size_t index = 0; index < pieces.size(); ++index) starts[index + 1] = starts[index] + pieces[index].size;
  const std::int64_t total = starts.back();
  if (total == 0) return 0;
#ifdef __linux__
  // the blocks reserved in one extent: writing into them costs less than allocating them as
  // the pages come; where the file system cannot, the writes allocate them as usual
  if (fallocate(fd, 0, offset, total) != 0 && (errno == ENOSPC || errno == EFBIG)) return errno;
#endif
  const std::int64_t shares = std::max<std::int64_t>(1, std::min<std::int64_t>(threads, total / kShareUnit));
  auto share_start = [&](std::int64_t share) { return total * share / shares / kShareUnit * kShareUnit; };
  std::atomic<int> error(0);
  parallel_for(shares, static_cast<unsigned>(shares), [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t share = first; share < last; ++share) {
      const std::int64_t begin = share_start(share), end = share + 1 == shares ? total : share_start(share + 1);
      ShareWriter writer(fd, offset, begin, writeback, &error);
      // the first piece that ends after `begin`
      std::size_t index = static_cast<std::size_t>(std::upper_bound(starts.begin(), starts.end(), begin) - starts.begin()) - 1;
      for (; index < pieces.size() && starts[index] < end; ++index) {
        const std::int64_t from = std::max(begin, starts[index]), to = std::min(end, starts[index + 1]);
        if (from < to) writer.write(pieces[index], from - starts[index], to - starts[index], from);
      }
      writer.finish();
    }
  });
  return error.load();
}

}  // namespace mxnet2caffe
