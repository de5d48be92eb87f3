#include "mxnet2caffe/file_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <vector>

#include "mxnet2caffe/parallel.hpp"

namespace mxnet2caffe {

namespace {

// Pieces smaller than this (headers, biases) are gathered and written together: a system call
// each would cost more than the copy.
const std::int64_t kGatheredBelow = 64 * 1024;
const std::int64_t kGatherCapacity = 1 << 20;
// Large pieces in memory are written in steps of this size; writeback is started every time
// this much more is written.
const std::int64_t kStep = 4 << 20;
// Each thread's share of the file begins on a multiple of this.
const std::int64_t kShareUnit = 1 << 20;
// What a pipe between the source and the output holds (if the system allows that much).
const int kPipeBytes = 1 << 20;

// One thread's writing of a contiguous share of the output, in order.
class ShareWriter {
 public:
  // writes bytes from `begin` of the output on
  ShareWriter(int fd, std::int64_t offset, std::int64_t begin, bool writeback, std::atomic<int>* error)
      : fd_(fd), offset_(offset), writeback_(writeback), error_(error), written_(begin), writeback_started_(begin) {
    gathered_.reserve(kGatherCapacity);
  }

  ~ShareWriter() {
    if (pipe_[0] >= 0) close(pipe_[0]);
    if (pipe_[1] >= 0) close(pipe_[1]);
  }

  ShareWriter(const ShareWriter&) = delete;
  ShareWriter& operator=(const ShareWriter&) = delete;

  // Bytes from..to of the piece, which belong at `position` of the output (from `offset`).
  void write(const Piece& piece, std::int64_t from, std::int64_t to, std::int64_t position) {
    if (piece.source != nullptr) {
      const std::int64_t at = piece.data - piece.source->begin + from;  // in the source file
      if (piece.size < kGatheredBelow || !splice_range(piece.source->fd, at, to - from, position)) {
        gather_from_file(piece.source->fd, at, to - from, position);
      }
      return;
    }
    if (piece.size < kGatheredBelow) {
      gather(piece.data + from, to - from, position);
      return;
    }
    flush_gathered();
    for (std::int64_t step = from; step < to && !failed(); step += kStep) {
      write_at(piece.data + step, std::min(kStep, to - step), position + step - from);
    }
  }

  void finish() {
    flush_gathered();
    if (!failed() && written_ > writeback_started_) start_writeback();
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

  // Reads size bytes from the file at `at` into the gathered bytes, written as they fill up.
  void gather_from_file(int source, std::int64_t at, std::int64_t size, std::int64_t position) {
    while (size > 0 && !failed()) {
      if (gathered_.size() == static_cast<std::size_t>(kGatherCapacity)) flush_gathered();
      if (gathered_.empty()) gathered_at_ = position;
      const std::size_t filled = gathered_.size();
      const std::int64_t count = std::min<std::int64_t>(size, kGatherCapacity - static_cast<std::int64_t>(filled));
      gathered_.resize(filled + static_cast<std::size_t>(count));
      const ssize_t got = pread(source, gathered_.data() + filled, static_cast<std::size_t>(count), at);
      if (got < 0 && errno == EINTR) {
        gathered_.resize(filled);
        continue;
      }
      if (got <= 0) {
        fail(got < 0 ? errno : EIO);  // 0: the file ends before its map did
        return;
      }
      gathered_.resize(filled + static_cast<std::size_t>(got));
      at += got;
      size -= got;
      position += got;
    }
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
    wrote_up_to(position);
  }

  // Moves size bytes of the file at `at` to the output through a pipe: the page cache's pages
  // go into the pipe by reference and are copied once, into the output's. Returns false, having
  // written nothing, where the system cannot splice (not Linux, or a file system that refuses it
  // on either side); the caller then reads the bytes instead.
  bool splice_range(int source, std::int64_t at, std::int64_t size, std::int64_t position) {
#ifdef __linux__
    if (!pipe_ready()) return false;
    flush_gathered();
    loff_t in = at, out = offset_ + position;
    bool moved = false;  // nothing reached the output yet: a refusal can still fall back
    while (size > 0 && !failed()) {
      const ssize_t got = splice(source, &in, pipe_[1], nullptr,
                                 static_cast<std::size_t>(std::min<std::int64_t>(size, pipe_bytes_)), SPLICE_F_MOVE);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0 && !moved && refused(errno)) return give_up_splicing();
      if (got <= 0) {
        fail(got < 0 ? errno : EIO);  // 0: the file ends before its map did
        return true;
      }
      for (ssize_t left = got; left > 0;) {
        const ssize_t put = splice(pipe_[0], nullptr, fd_, &out, static_cast<std::size_t>(left), SPLICE_F_MOVE);
        if (put < 0 && errno == EINTR) continue;
        if (put < 0 && !moved && refused(errno)) return give_up_splicing();  // the pipe's bytes go with it
        if (put <= 0) {
          fail(put < 0 ? errno : EIO);
          return true;
        }
        moved = true;
        left -= put;
      }
      size -= got;
      wrote_up_to(out - offset_);
    }
    return true;
#else
    (void)source;
    (void)at;
    (void)size;
    (void)position;
    return false;
#endif
  }

#ifdef __linux__
  static bool refused(int number) { return number == EINVAL || number == ENOSYS || number == EOPNOTSUPP; }

  // This share reads instead from now on; the pipe is dropped with whatever it holds.
  bool give_up_splicing() {
    splice_refused_ = true;
    close(pipe_[0]);
    close(pipe_[1]);
    pipe_[0] = pipe_[1] = -1;
    return false;
  }

  bool pipe_ready() {
    if (splice_refused_) return false;
    if (pipe_[0] >= 0) return true;
    if (pipe(pipe_) != 0) return false;
    const int size = fcntl(pipe_[1], F_SETPIPE_SZ, kPipeBytes);  // the default holds 64 KiB
    pipe_bytes_ = size > 0 ? size : fcntl(pipe_[1], F_GETPIPE_SZ);
    if (pipe_bytes_ <= 0) pipe_bytes_ = 64 * 1024;
    return true;
  }
#endif

  void wrote_up_to(std::int64_t end) {
    written_ = end;
    if (written_ - writeback_started_ >= kStep) start_writeback();
  }

  // Asks the kernel to start the disk write of what this share wrote since the last time: a
  // hint, which the final fsync does not rely on.
  void start_writeback() {
    if (!writeback_) return;
#ifdef __linux__
    sync_file_range(fd_, offset_ + writeback_started_, written_ - writeback_started_, SYNC_FILE_RANGE_WRITE);
#endif
    writeback_started_ = written_;
  }

  const int fd_;
  const std::int64_t offset_;
  const bool writeback_;
  std::atomic<int>* const error_;
  std::vector<char> gathered_;
  std::int64_t gathered_at_ = 0;
  std::int64_t written_;            // the end of what this share wrote so far
  std::int64_t writeback_started_;  // up to where writeback was asked for
  int pipe_[2] = {-1, -1};
  std::int64_t pipe_bytes_ = 0;
  bool splice_refused_ = false;
};

}  // namespace

int write_pieces(int fd, std::int64_t offset, const std::vector<Piece>& pieces, unsigned threads, bool writeback) {
  std::vector<std::int64_t> starts(pieces.size() + 1, 0);  // where each piece begins in the output
  for (std::size_t index = 0; index < pieces.size(); ++index) starts[index + 1] = starts[index] + pieces[index].size;
  const std::int64_t total = starts.back();
  if (total == 0) return 0;
  // pwrite ignores the offset of a file opened for appending (Linux): the bytes would land
  // elsewhere
  const int flags = fcntl(fd, F_GETFL);
  if (flags == -1) return errno;
  if (flags & O_APPEND) return EINVAL;
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
      std::size_t index =
          static_cast<std::size_t>(std::upper_bound(starts.begin(), starts.end(), begin) - starts.begin()) - 1;
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
