// Python function calls as tasks (ts.delayed, Runtime.submit/map), and compute(): arrays and calls in one
// graph, run with the GIL released, results back as NumPy arrays and Python objects.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "py_object.h"
#include "tessera/arrays/array.h"
#include "tessera/runtime/runtime.h"

namespace tessera::python {

namespace py = pybind11;

struct CallNode;
using CallPtr = std::shared_ptr<const CallNode>;

// What a call's argument stands for: another call's result, or an array (passed to the function as one NumPy
// array).
struct Dependency {
  CallPtr call;
  Array array;
  PyObject* stands_for = nullptr;  // the object in the arguments it replaces (owned by the node's arguments)
};

// One call, or a literal value (a finished future, ts.delayed(42)). Its key is (name, number); numbers count
// the calls a process made, so a key names one call, in every graph it joins and on every rank (the ranks of
// an MPI job run the same script and make the same calls).
struct CallNode {
  std::string name;
  std::int32_t number = 0;
  PyRef function;  // null for a literal
  PyRef args;      // tuple; dependencies in it are replaced by their values when the task runs
  PyRef kwargs;    // dict or null
  std::vector<Dependency> deps;
  // Dependencies passed directly as positional arguments: (position, dependency). The others sit inside
  // containers (list, tuple, dict) or keyword arguments, listed in `containers`, which are rebuilt.
  std::vector<std::pair<std::int32_t, std::int32_t>> direct;
  std::vector<PyObject*> containers;  // argument containers holding dependencies (owned by args/kwargs)
  bool rebuild_args = false;
  bool rebuild_kwargs = false;
  bool is_literal = false;
  Value literal;
  TaskOptions options;

  // "('inc', 3)"
  std::string key() const;
};

// What the Python side of ts.delayed looks like from C++: a handle on a node.
struct DelayedHandle {
  CallPtr node;
};

// The Python classes whose instances become dependencies when passed to a call: tessera.Array (its `_a`
// is the C++ array) and tessera.Future (its `_delayed` is a DelayedHandle). Set once at import.
void set_dependency_types(py::handle array_type, py::handle future_type);

// The next call number of this process.
std::int32_t next_call_number() noexcept;

// A call of `function(*args, **kwargs)`; Delayed, Future and Array objects in the arguments (also inside
// lists, tuples and dicts) become dependencies. GIL held.
CallPtr make_call(py::handle function, py::tuple args, py::dict kwargs, std::string name,
                  TaskOptions options);
// A task returning `value`, keyed (name, number).
CallPtr make_literal(py::handle value, std::string name, std::int32_t number);

// Takes SIGINT from Python while a run goes on, on the main thread: Python's own handler only sets a flag
// that its main thread checks, which is busy inside the run. GIL held.
class InterruptScope {
 public:
  InterruptScope();
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
  bool interrupted() const noexcept;

 private:
  bool active_ = false;
  PyOS_sighandler_t previous_ = nullptr;
};
// Remembers the interpreter's main thread (called at import).
void set_main_thread();

// Runs `work` (a run of tessera's, touching no Python) with the GIL released; on the main thread Ctrl-C stops
// it (no new task starts, running tasks finish) and raises KeyboardInterrupt. GIL held on entry.
template <class F>
auto interruptible(F&& work) {
  InterruptScope interrupt;
  try {
    py::gil_scoped_release release;
    return work();
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kCancelled && interrupt.interrupted()) {
      PyErr_SetNone(PyExc_KeyboardInterrupt);
      throw py::error_already_set();
    }
    throw;
  }
}

// The Runtime as Python holds it: runs one computation at a time (a second caller waits, with the GIL
// released); a computation started from inside a task is refused.
class PyRuntime {
 public:
  explicit PyRuntime(const RuntimeOptions& options);
  ~PyRuntime();
  Runtime& runtime();
  // Ends the runtime (collective under MPI); later use raises an error.
  void close();
  bool closed() const noexcept { return runtime_ == nullptr; }

  // Computes arrays and calls in one graph. Arrays come back as NumPy arrays (a 0-d one as a NumPy scalar),
  // calls as their results. Collective under MPI. GIL held on entry; released while the graph runs.
  std::pair<std::vector<py::object>, std::vector<py::object>> compute(std::span<const Array> arrays,
                                                                      std::span<const CallPtr> calls);
  // Runs `work` (which must not touch Python) with the GIL released, one computation at a time. On the main
  // thread, Ctrl-C stops the run (no new task starts, running tasks finish) and raises KeyboardInterrupt.
  template <class F>
  auto run_released(F&& work) {
    check_usable();
    return interruptible([&] {
      std::lock_guard lock(mu_);
      return work(*runtime_);
    });
  }

 private:
  void check_usable() const;
  std::unique_ptr<Runtime> runtime_;
  std::mutex mu_;
};

}  // namespace tessera::python
