#include "mxnet2caffe/parallel.hpp"

#include <algorithm>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace mxnet2caffe {

namespace {
const std::int64_t kBytesPerThread = 512 * 1024;
}  // namespace

unsigned threads_for(std::int64_t bytes) {
  // asking the system costs microseconds (it reads /sys), so once
  static const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const std::int64_t useful = std::max<std::int64_t>(1, bytes / kBytesPerThread);
  return static_cast<unsigned>(std::min<std::int64_t>(cores, useful));
}

void parallel_for(std::int64_t parts, unsigned threads, const std::function<void(std::int64_t, std::int64_t)>& work) {
  const std::int64_t count = std::max<std::int64_t>(1, std::min<std::int64_t>(threads, parts));
  if (count == 1) {
    work(0, parts);
    return;
  }
  std::exception_ptr failure;
  std::mutex failure_lock;
  auto range = [&](std::int64_t index) {
    try {
      work(parts * index / count, parts * (index + 1) / count);
    } catch (...) {
      std::lock_guard<std::mutex> hold(failure_lock);
      if (!failure) failure = std::current_exception();
    }
  };
  std::vector<std::thread> started;
  for (std::int64_t index = 1; index < count; ++index) started.emplace_back(range, index);
  range(0);
  for (std::thread& thread : started) thread.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace mxnet2caffe
