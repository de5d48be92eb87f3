#include "mxnet2caffe/broadcast.hpp"

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

// What keeps a and b from broadcasting, or "" (every forward checks: nothing is formatted then).
std::string shape_problem(const Shape& a_shape, const Shape& b_shape) {
  using std::to_string;
  if (a_shape.size() != b_shape.size()) {
    return "a has " + to_string(a_shape.size()) + " axes and b " + to_string(b_shape.size()) + " (they must be equal)";
  }
  int a_stretched = -1, b_stretched = -1;  // an axis where a (b) is 1 and the other is not
  for (std::size_t axis = 0; axis < a_shape.size(); ++axis) {
    const std::int64_t a_dim = a_shape[axis], b_dim = b_shape[axis];
    if (a_dim < 0 || b_dim < 0) return "axis " + to_string(axis) + " is negative";
    if (a_dim == b_dim) continue;
    if (a_dim != 1 && b_dim != 1) {
      return "axis " + to_string(axis) + " is " + to_string(a_dim) + " in a and " + to_string(b_dim) +
             " in b (each axis must be equal, or 1 in one of them)";
    }
    int& stretched = a_dim == 1 ? a_stretched : b_stretched;
    if (stretched < 0) stretched = static_cast<int>(axis);
  }
  if (a_stretched >= 0 && b_stretched >= 0) {
    return "both are stretched, a along axis " + to_string(a_stretched) + " and b along axis " +
           to_string(b_stretched) + " (one of them must have the result's shape)";
  }
  return std::string();
}

// The loops below see the operands as x, the one of the result's shape, and s, the one that
// broadcasts to it. Each operation is a value and the two partial derivatives times dy, in terms
// of x and s; when the full-size operand is b, the reversed operation keeps a op b's order.
struct Mul {
  template <typename V> static V value(V x, V s) { return x * s; }
  template <typename V> static V dx(V dy, V, V s) { return dy * s; }
  template <typename V> static V ds(V dy, V x, V) { return dy * x; }
};
struct Add {
  template <typename V> static V value(V x, V s) { return x + s; }
  template <typename V> static V dx(V dy, V, V) { return dy; }
  template <typename V> static V ds(V dy, V, V) { return dy; }
};
struct Sub {  // x - s
  template <typename V> static V value(V x, V s) { return x - s; }
  template <typename V> static V dx(V dy, V, V) { return dy; }
  template <typename V> static V ds(V dy, V, V) { return -dy; }
};
struct ReversedSub {  // s - x
  template <typename V> static V value(V x, V s) { return s - x; }
  template <typename V> static V dx(V dy, V, V) { return -dy; }
  template <typename V> static V ds(V dy, V, V) { return dy; }
};
struct Div {  // x / s
  template <typename V> static V value(V x, V s) { return x / s; }
  template <typename V> static V dx(V dy, V, V s) { return dy / s; }
  template <typename V> static V ds(V dy, V x, V s) { return -(dy * x) / (s * s); }
};
struct ReversedDiv {  // s / x
  template <typename V> static V value(V x, V s) { return s / x; }
  template <typename V> static V dx(V dy, V x, V s) { return -(dy * s) / (x * x); }
  template <typename V> static V ds(V dy, V x, V) { return dy / x; }
};

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

// Calls f(x index, s value) for every element of x. Where s is constant along the block, its
// value is read once per block, so the inner loop reads only x.
template <typename T, typename F>
void for_each_element(const Plan& plan, const T* s, F f) {
  const std::int64_t inner = plan.inner;
  if (plan.inner_kept) {
    for_each_block(plan, [&](std::int64_t x_offset, std::int64_t s_offset) {
      for (std::int64_t i = 0; i < inner; ++i) f(x_offset + i, s[s_offset + i]);
    });
  } else {
    for_each_block(plan, [&](std::int64_t x_offset, std::int64_t s_offset) {
      const T value = s[s_offset];
      for (std::int64_t i = 0; i < inner; ++i) f(x_offset + i, value);
    });
  }
}

std::int64_t count(const Shape& shape) {
  std::int64_t total = 1;
  for (std::size_t axis = 0; axis < shape.size(); ++axis) total *= shape[axis];
  return total;
}

// a and b seen as x (full-size) and s (broadcast), and whether that swapped them.
template <typename T>
struct Operands {
  const T* x;
  const T* s;
  Plan plan;
  std::int64_t s_count;
  bool reversed;
};

template <typename T>
Operands<T> operands(const T* a, const Shape& a_shape, const T* b, const Shape& b_shape) {
  const bool reversed = broadcast_output_shape(a_shape, b_shape) != a_shape;
  const Shape& x_shape = reversed ? b_shape : a_shape;
  const Shape& s_shape = reversed ? a_shape : b_shape;
  return Operands<T>{reversed ? b : a, reversed ? a : b, make_plan(x_shape, s_shape), count(s_shape), reversed};
}

template <typename T>
struct Forward {
  const Operands<T>& in;
  T* y;

  template <typename Op>
  void run() const {
    const T* x = in.x;
    T* out = y;
    for_each_element(in.plan, in.s, [&](std::int64_t i, T s) { out[i] = Op::value(x[i], s); });
  }
};

template <typename T>
struct Backward {
  const Operands<T>& in;
  const T* dy;
  T* dx;
  T* ds;

  template <typename Op>
  void run() const {
    const T* x = in.x;
    const T* g = dy;
    if (dx != nullptr) {
      T* out = dx;
      for_each_element(in.plan, in.s, [&](std::int64_t i, T s) { out[i] = Op::dx(g[i], x[i], s); });
    }
    if (ds != nullptr) reduce<Op>(x, g);
  }

  // ds: the derivative by s summed over the x elements that each s value went into.
  template <typename Op>
  void reduce(const T* x, const T* g) const {
    const T* s = in.s;
    T* out = ds;
    std::fill(out, out + in.s_count, T(0));
    const std::int64_t inner = in.plan.inner;
    if (in.plan.inner_kept) {
      for_each_block(in.plan, [&](std::int64_t x_offset, std::int64_t s_offset) {
        for (std::int64_t i = 0; i < inner; ++i) {
          out[s_offset + i] += Op::ds(g[x_offset + i], x[x_offset + i], s[s_offset + i]);
        }
      });
    } else {
      for_each_block(in.plan, [&](std::int64_t x_offset, std::int64_t s_offset) {
        const double value = s[s_offset];
        double sum = 0;  // a whole block goes into one value: keep float's rounding out of it
        for (std::int64_t i = 0; i < inner; ++i) {
          sum += Op::ds(double(g[x_offset + i]), double(x[x_offset + i]), value);
        }
        out[s_offset] += T(sum);
      });
    }
  }
};

// Runs task.run<Op>() for the loop operation of a op b (reversed: x is b).
template <typename Task>
void dispatch(BroadcastOp op, bool reversed, const Task& task) {
  switch (op) {
    case BroadcastOp::kMul:
      return task.template run<Mul>();
    case BroadcastOp::kAdd:
      return task.template run<Add>();
    case BroadcastOp::kSub:
      return reversed ? task.template run<ReversedSub>() : task.template run<Sub>();
    case BroadcastOp::kDiv:
      return reversed ? task.template run<ReversedDiv>() : task.template run<Div>();
  }
  throw std::invalid_argument("unknown broadcast operation");
}

}  // namespace

std::string broadcast_shape_error(const Shape& a_shape, const Shape& b_shape) {
  const std::string problem = shape_problem(a_shape, b_shape);
  if (problem.empty()) return problem;
  return "cannot broadcast a " + describe(a_shape) + " with b " + describe(b_shape) + ": " + problem;
}

Shape broadcast_output_shape(const Shape& a_shape, const Shape& b_shape) {
  const std::string error = broadcast_shape_error(a_shape, b_shape);
  if (!error.empty()) throw std::invalid_argument(error);
  for (std::size_t axis = 0; axis < a_shape.size(); ++axis) {
    if (a_shape[axis] != b_shape[axis]) return a_shape[axis] == 1 ? b_shape : a_shape;
  }
  return a_shape;
}

template <typename T>
void broadcast_forward(BroadcastOp op, const T* a, const Shape& a_shape, const T* b, const Shape& b_shape, T* y) {
  const Operands<T> in = operands(a, a_shape, b, b_shape);
  dispatch(op, in.reversed, Forward<T>{in, y});
}

template <typename T>
void broadcast_backward(BroadcastOp op, const T* dy, const T* a, const Shape& a_shape, const T* b,
                        const Shape& b_shape, T* da, T* db) {
  const Operands<T> in = operands(a, a_shape, b, b_shape);
  T* dx = in.reversed ? db : da;
  T* ds = in.reversed ? da : db;
  dispatch(op, in.reversed, Backward<T>{in, dy, dx, ds});
}

template void broadcast_forward<float>(BroadcastOp, const float*, const Shape&, const float*, const Shape&, float*);
template void broadcast_forward<double>(BroadcastOp, const double*, const Shape&, const double*, const Shape&,
                                        double*);
template void broadcast_backward<float>(BroadcastOp, const float*, const float*, const Shape&, const float*,
                                        const Shape&, float*, float*);
template void broadcast_backward<double>(BroadcastOp, const double*, const double*, const Shape&, const double*,
                                         const Shape&, double*, double*);

}  // namespace mxnet2caffe
