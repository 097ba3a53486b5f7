#include "calls.h"

#include <atomic>
#include <csignal>
#include <unordered_map>

#include "numpy_chunk.h"
#include "tessera/runtime/stop.h"

namespace tessera::python {
namespace {

unsigned long g_main_thread = 0;
PyObject* g_array_type = nullptr;
PyObject* g_future_type = nullptr;
std::atomic<std::int32_t> g_call_number{0};

bool is_type(PyObject* object, PyObject* type) {
  return type != nullptr && PyObject_TypeCheck(object, reinterpret_cast<PyTypeObject*>(type));
}

// The dependency `object` stands for, if it is a Delayed, a Future or an Array.
bool as_dependency(PyObject* object, Dependency& dep) {
  static PyTypeObject* delayed_type = reinterpret_cast<PyTypeObject*>(py::type::of<DelayedHandle>().ptr());
  if (Py_TYPE(object) == delayed_type) {
    dep.call = py::handle(object).cast<const DelayedHandle&>().node;
  } else if (is_type(object, g_future_type)) {
    dep.call = py::handle(object).attr("_delayed").cast<const DelayedHandle&>().node;
  } else if (is_type(object, g_array_type)) {
    dep.array = py::handle(object).attr("_a").cast<Array>();
  } else {
    return false;
  }
  dep.stands_for = object;
  return true;
}

class ArgumentScanner {
 public:
  explicit ArgumentScanner(CallNode& node) : node_(node) {}

  // The index of the dependency `object` stands for, or -1.
  int dependency(PyObject* object) {
    for (std::size_t i = 0; i < node_.deps.size(); ++i) {
      if (node_.deps[i].stands_for == object) return static_cast<int>(i);
    }
    Dependency dep;
    if (!as_dependency(object, dep)) return -1;
    node_.deps.push_back(std::move(dep));
    return static_cast<int>(node_.deps.size() - 1);
  }

  // `object` (a list, tuple or dict) as the call will see it: itself when it holds no dependency, else a copy
  // (recorded in `containers`) whose items are snapshots too, so that changing the caller's list afterwards
  // changes nothing (as Dask copies it into its graph). Null when it holds none.
  PyRef snapshot(PyObject* object, int depth) {
    if (depth > 32) return PyRef();
    bool found = false;
    std::vector<PyRef> items;  // per item: its snapshot, or null when it is kept as it is
    auto visit = [&](PyObject* item) {
      PyRef copy;
      if (dependency(item) >= 0) {
        found = true;
      } else if (PyList_Check(item) || PyTuple_Check(item) || PyDict_Check(item)) {
        copy = snapshot(item, depth + 1);
        found |= static_cast<bool>(copy);
      }
      items.push_back(std::move(copy));
    };
    std::vector<PyObject*> keys;
    if (PyList_Check(object)) {
      for (Py_ssize_t i = 0; i < PyList_GET_SIZE(object); ++i) visit(PyList_GET_ITEM(object, i));
    } else if (PyTuple_Check(object)) {
      for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(object); ++i) visit(PyTuple_GET_ITEM(object, i));
    } else if (PyDict_Check(object)) {
      Py_ssize_t pos = 0;
      PyObject *key, *value;
      while (PyDict_Next(object, &pos, &key, &value)) {
        keys.push_back(key);
        visit(value);
      }
    }
    if (!found) return PyRef();
    PyRef copy;
    if (PyDict_Check(object)) {
      copy = PyRef::steal(PyDict_New());
      Py_ssize_t pos = 0, i = 0;
      PyObject *key, *value;
      while (copy && PyDict_Next(object, &pos, &key, &value)) {
        if (PyDict_SetItem(copy.get(), key, items[i] ? items[i].get() : value) != 0) throw_python_error();
        ++i;
      }
    } else {
      const bool list = PyList_Check(object);
      const Py_ssize_t n = static_cast<Py_ssize_t>(items.size());
      copy = PyRef::steal(list ? PyList_New(n) : PyTuple_New(n));
      for (Py_ssize_t i = 0; copy && i < n; ++i) {
        PyObject* item = items[i]
                             ? items[i].release_ownership()
                             : (Py_NewRef(list ? PyList_GET_ITEM(object, i) : PyTuple_GET_ITEM(object, i)));
        if (list) {
          PyList_SET_ITEM(copy.get(), i, item);
        } else {
          PyTuple_SET_ITEM(copy.get(), i, item);
        }
      }
    }
    if (!copy) throw_python_error();
    node_.containers.push_back(copy.get());
    return copy;
  }

 private:
  CallNode& node_;
};

// What one run of a graph of calls needs to know.
struct RunContext {
  bool pickle = false;  // results may leave the process (MPI, spilling): pickle them while the GIL is held
};

// The argument values of one task: the inputs' objects, and the arguments rebuilt with them.
class Arguments {
 public:
  Arguments(const CallNode& node, const TaskContext& ctx) : node_(node) {
    inputs_.reserve(node.deps.size());
    for (std::size_t i = 0; i < node.deps.size(); ++i) {
      const Value& v = ctx.input(i);
      if (v.holds<PyValue>()) {
        inputs_.push_back(PyRef::borrow(v.get<PyValue>().get()));
      } else {
        inputs_.push_back(PyRef::steal(chunk_result(v.share<Chunk>(), false).release().ptr()));
      }
    }
  }

  PyRef args() const {
    PyObject* original = node_.args.get();
    if (!node_.rebuild_args) {
      const Py_ssize_t n = PyTuple_GET_SIZE(original);
      PyObject* out = PyTuple_New(n);
      if (out == nullptr) throw_python_error();
      std::size_t next = 0;
      for (Py_ssize_t i = 0; i < n; ++i) {
        PyObject* item;
        if (next < node_.direct.size() && node_.direct[next].first == i) {
          item = inputs_[static_cast<std::size_t>(node_.direct[next++].second)].get();
        } else {
          item = PyTuple_GET_ITEM(original, i);
        }
        Py_INCREF(item);
        PyTuple_SET_ITEM(out, i, item);
      }
      return PyRef::steal(out);
    }
    return rebuild(original);
  }

  PyRef kwargs() const {
    if (!node_.kwargs) return PyRef();
    if (!node_.rebuild_kwargs) return PyRef::borrow(node_.kwargs.get());
    return rebuild(node_.kwargs.get());
  }

 private:
  // `object` with every dependency replaced by its value; containers holding dependencies are copied.
  PyRef rebuild(PyObject* object) const {
    for (std::size_t i = 0; i < node_.deps.size(); ++i) {
      if (node_.deps[i].stands_for == object) return PyRef::borrow(inputs_[i].get());
    }
    bool holds = false;
    for (PyObject* c : node_.containers) holds |= c == object;
    if (!holds) return PyRef::borrow(object);
    if (PyDict_Check(object)) {
      PyRef out = PyRef::steal(PyDict_New());
      Py_ssize_t pos = 0;
      PyObject *key, *value;
      while (PyDict_Next(object, &pos, &key, &value)) {
        PyRef v = rebuild(value);
        if (!out || PyDict_SetItem(out.get(), key, v.get()) != 0) throw_python_error();
      }
      return out;
    }
    const bool list = PyList_Check(object);
    const Py_ssize_t n = list ? PyList_GET_SIZE(object) : PyTuple_GET_SIZE(object);
    PyRef out = PyRef::steal(list ? PyList_New(n) : PyTuple_New(n));
    if (!out) throw_python_error();
    for (Py_ssize_t i = 0; i < n; ++i) {
      PyRef v = rebuild(list ? PyList_GET_ITEM(object, i) : PyTuple_GET_ITEM(object, i));
      if (list) {
        PyList_SET_ITEM(out.get(), i, v.release_ownership());
      } else {
        PyTuple_SET_ITEM(out.get(), i, v.release_ownership());
      }
    }
    return out;
  }

  const CallNode& node_;
  std::vector<PyRef> inputs_;
};

Value wrap_result(PyRef object, const RunContext& run) {
  std::string bytes = run.pickle ? pickle(object.get()) : std::string();
  return Value::of(PyValue(std::move(object), std::move(bytes)));
}

// A call's task: takes the GIL, calls the function, wraps its result.
Value run_call(const CallNode& node, const TaskContext& ctx, const RunContext& run) {
  GilHold gil;
  PythonTaskScope in_task;
  drain_released();
  try {
    if (node.is_literal) {
      const PyValue& v = node.literal.get<PyValue>();
      if (!run.pickle || !v.pickled().empty()) return node.literal;
      return wrap_result(PyRef::borrow(v.get()), run);
    }
    Arguments arguments(node, ctx);
    PyRef args = arguments.args();
    PyRef kwargs = arguments.kwargs();
    PyObject* result = PyObject_Call(node.function.get(), args.get(), kwargs.get());
    if (result == nullptr) throw_python_error();
    return wrap_result(PyRef::steal(result), run);
  } catch (py::error_already_set& e) {
    e.restore();
    throw_python_error();
  }
}

// The chunks of an array (inputs, row-major) as one chunk.
Value assemble(const TaskContext& ctx, const Array& array) {
  if (ctx.num_inputs() == 1) return ctx.input(0);
  const ChunkGrid& grid = array.chunks();
  Chunk full(array.dtype(), array.shape());
  const Shape counts = grid.grid_shape();
  std::vector<std::int64_t> index(counts.size(), 0), start(counts.size());
  std::size_t i = 0;
  do {
    for (std::size_t a = 0; a < index.size(); ++a) start[a] = grid.offset(static_cast<int>(a), index[a]);
    copy_into(ctx.input<Chunk>(i++), full, start);
  } while (!counts.empty() && next_index(index, counts));
  return Value::of(std::move(full));
}

// The computed array as a NumPy array: its only chunk shared when nothing else holds it, else one copy.
py::object array_result(const Array& array, std::span<const Value> chunks) {
  if (chunks.size() == 1) {
    std::shared_ptr<const Chunk> c = chunks[0].share<Chunk>();
    // Held by `chunks` and `c` only: the caller may write to it. Otherwise (a persisted array's chunk) copy.
    if (c.use_count() <= 2) return chunk_result(std::move(c), true);
    return chunk_result(std::make_shared<const Chunk>(*c), true);
  }
  auto full = std::make_shared<Chunk>(array.dtype(), array.shape());
  {
    py::gil_scoped_release release;
    const ChunkGrid& grid = array.chunks();
    const Shape counts = grid.grid_shape();
    std::vector<std::int64_t> index(counts.size(), 0), start(counts.size());
    std::size_t i = 0;
    do {
      for (std::size_t a = 0; a < index.size(); ++a) start[a] = grid.offset(static_cast<int>(a), index[a]);
      copy_into(chunks[i++].get<Chunk>(), *full, start);
    } while (!counts.empty() && next_index(index, counts));
  }
  return chunk_result(std::move(full), true);
}

void on_interrupt(int signal) {
  request_stop(signal);
}

}  // namespace

void set_main_thread() {
  g_main_thread = PyThread_get_thread_ident();
}

InterruptScope::InterruptScope() {
  if (g_main_thread == 0 || PyThread_get_thread_ident() != g_main_thread) return;
  clear_stop();
  previous_ = PyOS_setsig(SIGINT, &on_interrupt);
  active_ = true;
}

InterruptScope::~InterruptScope() {
  if (!active_) return;
  PyOS_setsig(SIGINT, previous_);
  if (stop_requested() && stop_signal() == SIGINT) clear_stop();
}

bool InterruptScope::interrupted() const noexcept {
  return active_ && stop_requested() && stop_signal() == SIGINT;
}

std::string CallNode::key() const {
  return TaskKey{name, {number}}.str();
}

void set_dependency_types(py::handle array_type, py::handle future_type) {
  g_array_type = array_type.inc_ref().ptr();
  g_future_type = future_type.inc_ref().ptr();
}

std::int32_t next_call_number() noexcept {
  // Wraps after 2^31 calls; keys only need to differ within one graph.
  return g_call_number.fetch_add(1, std::memory_order_relaxed) & 0x7fffffff;
}

CallPtr make_call(py::handle function, py::tuple args, py::dict kwargs, std::string name,
                  TaskOptions options) {
  auto node = std::make_shared<CallNode>();
  node->name = std::move(name);
  node->number = next_call_number();
  node->function = PyRef::borrow(function.ptr());
  node->options = options;
  ArgumentScanner scanner(*node);
  const Py_ssize_t n = PyTuple_GET_SIZE(args.ptr());
  std::vector<PyRef> copies(static_cast<std::size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* item = PyTuple_GET_ITEM(args.ptr(), i);
    const int dep = scanner.dependency(item);
    if (dep >= 0) {
      node->direct.emplace_back(static_cast<std::int32_t>(i), dep);
    } else if (PyList_Check(item) || PyTuple_Check(item) || PyDict_Check(item)) {
      copies[static_cast<std::size_t>(i)] = scanner.snapshot(item, 0);
      node->rebuild_args |= static_cast<bool>(copies[static_cast<std::size_t>(i)]);
    }
  }
  if (node->rebuild_args) {
    // The arguments with the snapshots of the containers that hold dependencies.
    PyRef tuple = PyRef::steal(PyTuple_New(n));
    if (!tuple) throw_python_error();
    for (Py_ssize_t i = 0; i < n; ++i) {
      PyRef& c = copies[static_cast<std::size_t>(i)];
      PyTuple_SET_ITEM(tuple.get(), i,
                       c ? c.release_ownership() : Py_NewRef(PyTuple_GET_ITEM(args.ptr(), i)));
    }
    node->containers.push_back(tuple.get());
    node->args = std::move(tuple);
  } else {
    node->args = PyRef::borrow(args.ptr());
  }
  if (kwargs && PyDict_Size(kwargs.ptr()) > 0) {
    PyRef copy = scanner.snapshot(kwargs.ptr(), 0);
    node->rebuild_kwargs = static_cast<bool>(copy);
    node->kwargs = copy ? std::move(copy) : PyRef::borrow(kwargs.ptr());
  }
  return node;
}

CallPtr make_literal(py::handle value, std::string name, std::int32_t number) {
  auto node = std::make_shared<CallNode>();
  node->name = std::move(name);
  node->number = number;
  node->is_literal = true;
  node->literal = Value::of(PyValue(PyRef::borrow(value.ptr()), std::string()));
  return node;
}

PyRuntime::PyRuntime(const RuntimeOptions& options) {
  py::gil_scoped_release release;  // under MPI construction is collective and waits for the other ranks
  runtime_ = std::make_unique<Runtime>(options);
}

PyRuntime::~PyRuntime() {
  close();
}

void PyRuntime::close() {
  if (!runtime_) return;
  // Without the GIL: a computation in progress holds mu_ and its Python tasks need the GIL to finish; under
  // MPI the executor's destruction waits for the other ranks.
  auto end = [this] {
    std::unique_ptr<Runtime> rt;
    {
      std::lock_guard lock(mu_);
      rt = std::move(runtime_);
    }
    rt.reset();
  };
  if (PyGILState_Check()) {
    py::gil_scoped_release release;
    end();
  } else {
    end();
  }
}

Runtime& PyRuntime::runtime() {
  check_usable();
  return *runtime_;
}

void PyRuntime::check_usable() const {
  if (!runtime_) throw Error(ErrorCode::kInvalidArgument, "this tessera Runtime was closed");
  if (in_python_task()) {
    throw Error(ErrorCode::kInvalidArgument,
                "compute() was called from inside a task: a task cannot start another computation (return a "
                "Delayed or array from the task's caller instead)");
  }
}

std::pair<std::vector<py::object>, std::vector<py::object>> PyRuntime::compute(
    std::span<const Array> arrays, std::span<const CallPtr> calls) {
  check_usable();
  // Every call reachable from `calls`, dependencies first.
  std::vector<const CallNode*> order;
  std::unordered_map<const CallNode*, TaskId> ids;
  std::vector<Array> all_arrays(arrays.begin(), arrays.end());
  std::unordered_map<const void*, std::size_t> array_slot;  // array node -> index into all_arrays
  {
    std::vector<std::pair<const CallNode*, std::size_t>> stack;
    for (const CallPtr& root : calls) {
      if (!root) throw Error(ErrorCode::kInvalidArgument, "compute() was given an empty Delayed");
      if (ids.count(root.get())) continue;
      stack.emplace_back(root.get(), 0);
      while (!stack.empty()) {
        auto& [node, next] = stack.back();
        if (next < node->deps.size()) {
          const Dependency& d = node->deps[next++];
          if (d.call) {
            if (!ids.count(d.call.get())) stack.emplace_back(d.call.get(), 0);
          } else if (array_slot.emplace(d.array.node().get(), all_arrays.size()).second) {
            all_arrays.push_back(d.array);
          }
          continue;
        }
        if (ids.emplace(node, 0).second) order.push_back(node);
        stack.pop_back();
      }
    }
  }
  Graph graph;
  std::vector<std::vector<TaskId>> chunk_ids;
  build_graph(all_arrays, graph, chunk_ids);
  // Arrays passed to calls: one task joins each one's chunks into the NumPy array the function gets.
  std::vector<TaskId> assembled(all_arrays.size());
  if (all_arrays.size() > arrays.size()) {
    const NameId name = graph.name("to_numpy");
    for (std::size_t j = arrays.size(); j < all_arrays.size(); ++j) {
      const KernelId k =
          graph.kernel([a = all_arrays[j]](const TaskContext& ctx) { return assemble(ctx, a); });
      const std::int32_t index[] = {static_cast<std::int32_t>(j)};
      assembled[j] = graph.add(name, index, k, chunk_ids[j]);
    }
  }
  auto context = std::make_shared<RunContext>();
  {
    Runtime& rt = *runtime_;
    context->pickle = rt.ranks() > 1 || rt.options().memory.limit > 0;
  }
  std::vector<TaskId> deps;
  const std::string* last_name = nullptr;
  NameId last_name_id = 0;
  for (const CallNode* node : order) {
    deps.clear();
    for (const Dependency& d : node->deps) {
      deps.push_back(d.call ? ids.at(d.call.get()) : assembled[array_slot.at(d.array.node().get())]);
    }
    if (last_name == nullptr || *last_name != node->name) {
      last_name_id = graph.name(node->name);
      last_name = &node->name;
    }
    const RunContext* run = context.get();
    const KernelId k =
        graph.kernel([node, run](const TaskContext& ctx) { return run_call(*node, ctx, *run); });
    const std::int32_t index[] = {node->number};
    ids[node] = graph.add(last_name_id, index, k, deps, node->options);
  }
  std::vector<TaskId> outputs;
  for (std::size_t j = 0; j < arrays.size(); ++j)
    outputs.insert(outputs.end(), chunk_ids[j].begin(), chunk_ids[j].end());
  for (const CallPtr& root : calls) outputs.push_back(ids.at(root.get()));

  std::vector<Value> values = run_released([&](Runtime& rt) { return rt.run(graph, outputs); });

  std::pair<std::vector<py::object>, std::vector<py::object>> out;
  std::size_t next = 0;
  for (std::size_t j = 0; j < arrays.size(); ++j) {
    const std::size_t n = chunk_ids[j].size();
    out.first.push_back(array_result(arrays[j], std::span<const Value>(values).subspan(next, n)));
    next += n;
  }
  for (std::size_t i = 0; i < calls.size(); ++i) {
    out.second.push_back(py::reinterpret_borrow<py::object>(values[next++].get<PyValue>().get()));
  }
  {
    // Results of tasks released during the run wait for the GIL; drop them now.
    drain_released();
  }
  return out;
}

}  // namespace tessera::python
