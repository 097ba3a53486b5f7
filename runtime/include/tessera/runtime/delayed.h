// Delayed: type-safe lazy calls in the spirit of dask.delayed. Calling a wrapped function builds a task;
// nothing runs until Runtime::compute.
//
//   auto inc = tessera::delayed([](int x) { return x + 1; }, "inc");
//   auto add = tessera::delayed([](int a, int b) { return a + b; }, "add");
//   auto z = add(inc(1), inc(2));   // the two inc calls are independent and run in parallel
//   int five = rt.compute(z);
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "tessera/runtime/error.h"
#include "tessera/runtime/graph.h"
#include "tessera/runtime/value.h"

namespace tessera {

namespace detail {

// One lazy call: its callable (which reads its inputs from the TaskContext) and the calls it depends on.
struct DelayedNode {
  std::string name;
  Kernel kernel;
  std::vector<std::shared_ptr<const DelayedNode>> deps;
  TaskOptions options;
};
using NodePtr = std::shared_ptr<const DelayedNode>;

}  // namespace detail

// A lazily computed T. Copying it copies a reference to the same task.
template <class T>
class Delayed {
 public:
  using value_type = T;
  Delayed() = default;
  explicit Delayed(detail::NodePtr node) : node_(std::move(node)) {}
  const detail::NodePtr& node() const noexcept { return node_; }

 private:
  detail::NodePtr node_;
};

// A value that is already known, as a task without dependencies.
template <class T>
Delayed<std::decay_t<T>> literal(T&& value, std::string name = "literal") {
  auto v = Value::of(std::forward<T>(value));
  auto node = std::make_shared<detail::DelayedNode>();
  node->name = std::move(name);
  node->kernel = [v](const TaskContext&) { return v; };
  return Delayed<std::decay_t<T>>(std::move(node));
}

namespace detail {

// Binders say how each argument of a delayed call reaches the function: a plain value is copied into the
// task; a Delayed<U> becomes a dependency read as const U&; a std::vector<Delayed<U>> becomes that many
// dependencies passed as std::vector<U>. Inputs are numbered at bind time, left to right.
template <class A>
struct Binder {
  A value;
  template <class X>
  Binder(X&& a, std::size_t&, std::vector<NodePtr>&) : value(std::forward<X>(a)) {}
  const A& get(const TaskContext&) const { return value; }
  using Param = const A&;
};

template <class U>
struct DelayedBinder {
  std::size_t slot;
  DelayedBinder(const Delayed<U>& d, std::size_t& next, std::vector<NodePtr>& deps) : slot(next++) {
    if (!d.node())
      throw_error(ErrorCode::kInvalidArgument, "an argument is an empty Delayed (never assigned)");
    deps.push_back(d.node());
  }
  const U& get(const TaskContext& ctx) const { return ctx.input<U>(slot); }
  using Param = const U&;
};

template <class U>
struct VectorBinder {
  std::size_t first;
  std::size_t count;
  VectorBinder(const std::vector<Delayed<U>>& ds, std::size_t& next, std::vector<NodePtr>& deps)
      : first(next), count(ds.size()) {
    for (const auto& d : ds) {
      if (!d.node()) throw_error(ErrorCode::kInvalidArgument, "a list argument holds an empty Delayed");
      deps.push_back(d.node());
    }
    next += count;
  }
  std::vector<U> get(const TaskContext& ctx) const {
    std::vector<U> out;
    out.reserve(count);
    for (std::size_t i = 0; i < count; ++i) out.push_back(ctx.input<U>(first + i));
    return out;
  }
  using Param = std::vector<U>;
};

template <class A>
struct BinderFor {
  using type = Binder<A>;
};
template <class U>
struct BinderFor<Delayed<U>> {
  using type = DelayedBinder<U>;
};
template <class U>
struct BinderFor<std::vector<Delayed<U>>> {
  using type = VectorBinder<U>;
};
template <class A>
using BinderOf = typename BinderFor<std::decay_t<A>>::type;

}  // namespace detail

// A function whose calls build tasks. Made by delayed().
template <class F>
class DelayedFunction {
 public:
  DelayedFunction(F f, std::string name, TaskOptions options)
      : f_(std::make_shared<const F>(std::move(f))), name_(std::move(name)), options_(options) {}

  template <class... Args>
  auto operator()(Args&&... args) const {
    using R = std::invoke_result_t<const F&, typename detail::BinderOf<Args>::Param...>;
    static_assert(!std::is_void_v<R>, "a delayed function must return a value");
    auto node = std::make_shared<detail::DelayedNode>();
    node->name = name_;
    node->options = options_;
    std::size_t next_slot = 0;
    // Braced initialisation evaluates left to right, so inputs are numbered in argument order.
    std::tuple<detail::BinderOf<Args>...> binders{
        detail::BinderOf<Args>(std::forward<Args>(args), next_slot, node->deps)...};
    node->kernel = [f = f_, binders = std::move(binders)](const TaskContext& ctx) -> Value {
      return std::apply([&](const auto&... b) { return Value::of(std::invoke(*f, b.get(ctx)...)); }, binders);
    };
    return Delayed<std::decay_t<R>>(std::move(node));
  }

  const std::string& name() const noexcept { return name_; }

 private:
  std::shared_ptr<const F> f_;
  std::string name_;
  TaskOptions options_;
};

template <class F>
DelayedFunction<std::decay_t<F>> delayed(F&& f, std::string name = "task", TaskOptions options = {}) {
  return DelayedFunction<std::decay_t<F>>(std::forward<F>(f), std::move(name), options);
}

// Combines `items` with the associative `op(T, T) -> T` in a tree: each task folds up to `split_every`
// consecutive results left to right. The tree's shape depends only on items.size() and split_every, so the
// result is bit-identical on any executor and any number of threads or ranks.
template <class T, class Op>
Delayed<T> tree_reduce(std::vector<Delayed<T>> items, Op op, int split_every = 8,
                       std::string name = "reduce") {
  if (items.empty()) throw_error(ErrorCode::kInvalidArgument, "tree_reduce of an empty list");
  if (split_every < 2)
    throw_error(ErrorCode::kInvalidArgument, "tree_reduce: split_every is ", split_every,
                "; it must be at least 2");
  auto shared_op = std::make_shared<const Op>(std::move(op));
  Kernel fold = [shared_op](const TaskContext& ctx) -> Value {
    T acc = ctx.input<T>(0);
    for (std::size_t i = 1; i < ctx.num_inputs(); ++i) acc = (*shared_op)(std::move(acc), ctx.input<T>(i));
    return Value::of(std::move(acc));
  };
  while (items.size() > 1) {
    std::vector<Delayed<T>> next;
    next.reserve((items.size() + split_every - 1) / split_every);
    for (std::size_t i = 0; i < items.size(); i += split_every) {
      std::size_t end = std::min(items.size(), i + static_cast<std::size_t>(split_every));
      if (end - i == 1) {
        next.push_back(items[i]);
        continue;
      }
      auto node = std::make_shared<detail::DelayedNode>();
      node->name = name;
      node->kernel = fold;
      for (std::size_t j = i; j < end; ++j) node->deps.push_back(items[j].node());
      next.push_back(Delayed<T>(std::move(node)));
    }
    items = std::move(next);
  }
  return items.front();
}

namespace detail {
// Adds the calls reachable from `roots` to `graph` (each once, dependencies first) and returns the task id of
// each root. Keys are (name, n) with n counting calls in the order they are added.
std::vector<TaskId> add_delayed(Graph& graph, std::span<const NodePtr> roots);
}  // namespace detail

}  // namespace tessera
