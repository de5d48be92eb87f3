// Splitting a kernel's independent parts between threads, for the Python module (the Caffe
// layers run on Caffe's thread and do not use it).
//
// Plain C++11 with no Python.
#ifndef MXNET2CAFFE_PARALLEL_HPP_
#define MXNET2CAFFE_PARALLEL_HPP_

#include <cstdint>
#include <functional>

namespace mxnet2caffe {

// How many threads are worth starting to move `bytes` (read plus written): one below a few
// hundred KB, where starting a thread costs about what it saves; else one per core.
unsigned threads_for(std::int64_t bytes);

// Runs work(begin, end) on contiguous ranges that cover [0, parts) once, on up to `threads`
// threads, the calling one among them; returns when all are done. The first exception thrown
// by `work` is rethrown here.
void parallel_for(std::int64_t parts, unsigned threads, const std::function<void(std::int64_t, std::int64_t)>& work);

}  // namespace mxnet2caffe

#endif  // MXNET2CAFFE_PARALLEL_HPP_
