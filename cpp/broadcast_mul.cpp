#include "mxnet2caffe/broadcast_mul.hpp"

#include <algorithm>
#include <cstddef>
#include <sstream>
#include <stdexcept>

namespace mxnet2caffe {

namespace {

std::string describe(const Shape& shape) {
  std::ostringstream out;
  out << "(";
  for (std::size_t axis = 0; axis < shape.size(); ++axis) out << (axis ? "," : "") << shape[axis];
  out << ")";
  return out.str();
}

// A run of adjacent axes of x along which s either follows x (kept) or stays constant.
struct Run {
  std::int64_t size;
  bool kept;
};

// x's axes merged into runs, walked as an outer loop over contiguous inner blocks of x: the
// last run is the block. SE's N,C,H,W x N,C,1,1 becomes N*C blocks of H*W with one s value each.
struct Plan {
  std::vector<Run> outer;                // runs before the block, outermost first
  std::vector<std::int64_t> s_strides;   // s offset step for one step of each outer run
  std::int64_t inner;                    // block length
  bool inner_kept;                       // s is contiguous along the block (else one value)
  std::int64_t blocks;                   // product of the outer run sizes
};

Plan make_plan(const Shape& x_shape, const Shape& s_shape) {
  const std::string error = broadcast_mul_shape_error(x_shape, s_shape);
  if (!error.empty()) throw std::invalid_argument(error);
  std::vector<Run> runs;
  for (std::size_t axis = 0; axis < x_shape.size(); ++axis) {
    if (x_shape[axis] == 1) continue;  // moves nothing in either tensor
    const bool kept = s_shape[axis] != 1;
    if (!runs.empty() && runs.back().kept == kept) {
      runs.back().size *= x_shape[axis];
    } else {
      runs.push_back(Run{x_shape[axis], kept});
    }
  }
  if (runs.empty()) runs.push_back(Run{1, true});  // a single element

  Plan plan;
  plan.inner = runs.back().size;
  plan.inner_kept = runs.back().kept;
  plan.outer.assign(runs.begin(), runs.end() - 1);
  plan.s_strides.assign(plan.outer.size(), 0);
  std::int64_t s_step = plan.inner_kept ? plan.inner : 1;
  for (std::size_t r = plan.outer.size(); r-- > 0;) {
    if (!plan.outer[r].kept) continue;
    plan.s_strides[r] = s_step;
    s_step *= plan.outer[r].size;
  }
  plan.blocks = 1;
  for (std::size_t r = 0; r < plan.outer.size(); ++r) plan.blocks *= plan.outer[r].size;
  return plan;
}

// Calls visit(x offset, s offset) for each block, in x's memory order.
template <typename Visit>
void for_each_block(const Plan& plan, Visit visit) {
  const std::size_t depth = plan.outer.size();
  std::vector<std::int64_t> index(depth, 0);
  std::int64_t s_offset = 0;
  for (std::int64_t block = 0; block < plan.blocks; ++block) {
    visit(block * plan.inner, s_offset);
    for (std::size_t r = depth; r-- > 0;) {  // odometer step over the outer runs
      s_offset += plan.s_strides[r];
      if (++index[r] < plan.outer[r].size) break;
      s_offset -= plan.s_strides[r] * plan.outer[r].size;
      index[r] = 0;
    }
  }
}

std::int64_t count(const Shape& shape) {
  std::int64_t total = 1;
  for (std::size_t axis = 0; axis < shape.size(); ++axis) total *= shape[axis];
  return total;
}

}  // namespace

std::string broadcast_mul_shape_error(const Shape& x_shape, const Shape& s_shape) {
  std::ostringstream out;
  out << "cannot broadcast s " << describe(s_shape) << " to x " << describe(x_shape) << ": ";
  if (x_shape.size() != s_shape.size()) {
    out << "s has " << s_shape.size() << " axes and x " << x_shape.size() << " (they must be equal)";
    return out.str();
  }
  for (std::size_t axis = 0; axis < x_shape.size(); ++axis) {
    if (x_shape[axis] < 0 || s_shape[axis] < 0) {
      out << "axis " << axis << " is negative";
      return out.str();
    }
    if (s_shape[axis] != x_shape[axis] && s_shape[axis] != 1) {
      out << "axis " << axis << " is " << s_shape[axis] << " in s and " << x_shape[axis]
          << " in x (s must have x's size or 1)";
      return out.str();
    }
  }
  return std::string();
}

template <typename T>
void broadcast_mul_forward(const T* x, const Shape& x_shape, const T* s, const Shape& s_shape, T* y) {
  const Plan plan = make_plan(x_shape, s_shape);
  const std::int64_t inner = plan.inner;
  if (plan.inner_kept) {
    for_each_block(plan, [&](std::int64_t x_offset, std::int64_t s_offset) {
      const T* xb = x + x_offset;
      const T* sb = s + s_offset;
      T* yb = y + x_offset;
      for (std::int64_t i = 0; i < inner; ++i) yb[i] = xb[i] * sb[i];
    });
  } else {
    for_each_block(plan, [&](std::int64_t x_offset, std::int64_t s_offset) {
      const T* xb = x + x_offset;
      const T scale = s[s_offset];
      T* yb = y + x_offset;
      for (std::int64_t i = 0; i < inner; ++i) yb[i] = xb[i] * scale;
    });
  }
}

template <typename T>
void broadcast_mul_backward(const T* dy, const T* x, const Shape& x_shape, const T* s, const Shape& s_shape,
                            T* dx, T* ds) {
  const Plan plan = make_plan(x_shape, s_shape);
  if (dx != nullptr) broadcast_mul_forward(dy, x_shape, s, s_shape, dx);
  if (ds == nullptr) return;
  std::fill(ds, ds + count(s_shape), T(0));
  const std::int64_t inner = plan.inner;
  if (plan.inner_kept) {
    for_each_block(plan, [&](std::int64_t x_offset, std::int64_t s_offset) {
      for (std::int64_t i = 0; i < inner; ++i) ds[s_offset + i] += dy[x_offset + i] * x[x_offset + i];
    });
  } else {
    for_each_block(plan, [&](std::int64_t x_offset, std::int64_t s_offset) {
      double sum = 0;  // a whole plane goes into one value: keep float's rounding out of it
      for (std::int64_t i = 0; i < inner; ++i) sum += double(dy[x_offset + i]) * double(x[x_offset + i]);
      ds[s_offset] += T(sum);
    });
  }
}

template void broadcast_mul_forward<float>(const float*, const Shape&, const float*, const Shape&, float*);
template void broadcast_mul_forward<double>(const double*, const Shape&, const double*, const Shape&, double*);
template void broadcast_mul_backward<float>(const float*, const float*, const Shape&, const float*, const Shape&,
                                            float*, float*);
template void broadcast_mul_backward<double>(const double*, const double*, const Shape&, const double*,
                                             const Shape&, double*, double*);

}  // namespace mxnet2caffe
