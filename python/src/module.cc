// The extension module tessera._tessera: errors, the runtime, delayed calls and compute(). Arrays and files
// are bound in arrays.cc and io.cc; the Python package (python/tessera/) builds the user-facing API on it.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <map>
#include <string>

#include "calls.h"
#include "py_object.h"
#include "tessera/runtime/format.h"
#include "tessera/runtime/runtime.h"

namespace tessera::python {

void bind_arrays(py::module_& m);
void bind_io(py::module_& m);

namespace {

std::map<ErrorCode, py::object>& error_classes() {
  static auto* classes = new std::map<ErrorCode, py::object>;
  return *classes;
}
py::object& task_error_class() {
  static auto* cls = new py::object;
  return *cls;
}

void raise_error(const Error& e) {
  auto it = error_classes().find(e.code());
  if (it == error_classes().end()) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return;
  }
  PyErr_SetObject(it->second.ptr(), it->second(e.what()).ptr());
}

void raise_task_error(const TaskError& e) {
  py::object& cls = task_error_class();
  if (!cls) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return;
  }
  py::object exc = cls(e.what(), py::arg("key") = e.task_key(),
                       py::arg("code") = std::string(code_name(e.code())), py::arg("rank") = e.rank(),
                       py::arg("attempts") = e.attempts(), py::arg("original") = e.original_message());
  PyErr_SetObject(cls.ptr(), exc.ptr());
}

ExecutorKind executor_kind(const std::string& name) {
  if (name == "auto") return ExecutorKind::kAuto;
  if (name == "threads") return ExecutorKind::kThreads;
  if (name == "sync") return ExecutorKind::kSync;
  if (name == "mpi") return ExecutorKind::kMpi;
  throw_error(ErrorCode::kInvalidArgument, "executor \"", name, "\" is not one of auto, threads, sync, mpi");
}

TaskOptions task_options(int retries) {
  if (retries < 0 || retries > 255)
    throw_error(ErrorCode::kInvalidArgument, "retries is ", retries, "; it must be between 0 and 255");
  TaskOptions o;
  o.retries = static_cast<std::uint8_t>(retries);
  return o;
}

// ts.delayed(f): calling it makes a Delayed.
struct PyDelayedFunction {
  py::object function;
  std::string name;
  TaskOptions options;
};

py::object delayed_object(CallPtr node) {
  return py::cast(DelayedHandle{std::move(node)});
}

}  // namespace

}  // namespace tessera::python

PYBIND11_MODULE(_tessera, m) {
  using namespace tessera;
  using namespace tessera::python;
  m.doc() = "tessera's extension module; use the `tessera` package";
  set_main_thread();

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const TaskError& e) {
      raise_task_error(e);
    } catch (const Error& e) {
      raise_error(e);
    }
  });
  m.def("_set_error_classes", [](py::dict by_code, py::object task_error) {
    for (auto [name, cls] : by_code) {
      auto code = code_from_name(name.cast<std::string>());
      if (!code) throw Error(ErrorCode::kInternal, "unknown error code name " + name.cast<std::string>());
      error_classes()[*code] = py::reinterpret_borrow<py::object>(cls);
    }
    task_error_class() = std::move(task_error);
  });
  m.def("_set_pickle",
        [](py::object dumps, py::object loads) { set_pickle_functions(dumps.ptr(), loads.ptr()); });
  m.def("_set_dependency_types", &set_dependency_types);
  m.def("_raise_error", [](const std::string& code, const std::string& message) {
    auto c = code_from_name(code);
    throw Error(c ? *c : ErrorCode::kInternal, message);
  });
  m.def("_raise_task_error", [](const std::string& key, const std::string& message, int rank) {
    throw TaskError(ErrorCode::kInvalidArgument, key, message, rank);
  });
  m.def(
      "parse_size", [](const std::string& text) { return parse_size(text, "size"); },
      "Bytes in a size written as people write it: 4096, '8GB', '512 MiB', '1.5G'.");
  m.def("format_bytes", [](double bytes) { return format_bytes(bytes); });

  bind_arrays(m);

  py::class_<PyRuntime>(m, "_Runtime")
      .def(py::init([](const std::string& executor, int threads, std::uint64_t memory_limit,
                       const std::string& spill_dir) {
             RuntimeOptions o = RuntimeOptions::from_environment();
             if (executor != "env") o.executor = executor_kind(executor);
             if (threads >= 0) o.threads = threads;
             if (memory_limit > 0) o.memory.limit = memory_limit;
             if (!spill_dir.empty()) o.memory.spill_dir = spill_dir;
             return std::make_unique<PyRuntime>(o);
           }),
           py::arg("executor"), py::arg("threads"), py::arg("memory_limit"), py::arg("spill_dir"))
      .def("close", &PyRuntime::close)
      .def_property_readonly("closed", &PyRuntime::closed)
      .def_property_readonly("rank", [](PyRuntime& r) { return r.runtime().rank(); })
      .def_property_readonly("ranks", [](PyRuntime& r) { return r.runtime().ranks(); })
      .def_property_readonly("executor",
                             [](PyRuntime& r) { return std::string(r.runtime().executor().name()); })
      .def_property_readonly("concurrency", [](PyRuntime& r) { return r.runtime().executor().concurrency(); })
      .def_property_readonly("memory_limit", [](PyRuntime& r) { return r.runtime().options().memory.limit; })
      .def("last_stats",
           [](PyRuntime& r) {
             const RunStats& s = r.runtime().last_stats();
             py::dict d;
             d["tasks"] = s.graph_tasks;
             d["plan_tasks"] = s.plan_tasks;
             d["attempts"] = s.attempts;
             d["seconds"] = s.seconds;
             d["transfer"] = s.transfer;
             d["peak_held_bytes"] = s.peak_held_bytes;
             d["bytes_spilled"] = s.bytes_spilled;
             return d;
           })
      .def("compute",
           [](PyRuntime& r, const std::vector<Array>& arrays, const std::vector<DelayedHandle*>& calls) {
             std::vector<CallPtr> nodes;
             nodes.reserve(calls.size());
             for (const DelayedHandle* c : calls) nodes.push_back(c->node);
             auto [a, c] = r.compute(arrays, nodes);
             return py::make_tuple(py::cast(std::move(a)), py::cast(std::move(c)));
           });

  py::class_<DelayedHandle>(m, "Delayed")
      .def_property_readonly("key", [](const DelayedHandle& d) { return d.node->key(); })
      .def_property_readonly("_name", [](const DelayedHandle& d) { return d.node->name; })
      .def_property_readonly("_number", [](const DelayedHandle& d) { return d.node->number; })
      .def_property_readonly("_is_literal", [](const DelayedHandle& d) { return d.node->is_literal; })
      .def("__repr__", [](const DelayedHandle& d) { return "Delayed(" + d.node->key() + ")"; });

  py::class_<PyDelayedFunction>(m, "DelayedFunction")
      .def(py::init([](py::object function, std::string name, int retries) {
             return PyDelayedFunction{std::move(function), std::move(name), task_options(retries)};
           }),
           py::arg("function"), py::arg("name"), py::arg("retries") = 0)
      .def("__call__",
           [](const PyDelayedFunction& f, py::args args, py::kwargs kwargs) {
             return delayed_object(
                 make_call(f.function, std::move(args), std::move(kwargs), f.name, f.options));
           })
      .def_property_readonly("__wrapped__", [](const PyDelayedFunction& f) { return f.function; })
      .def_property_readonly("name", [](const PyDelayedFunction& f) { return f.name; })
      .def_property_readonly("retries", [](const PyDelayedFunction& f) { return int(f.options.retries); })
      .def("__repr__", [](const PyDelayedFunction& f) { return "tessera.delayed(" + f.name + ")"; });

  m.def(
      "_call",
      [](py::object function, py::tuple args, py::dict kwargs, std::string name, int retries) {
        return delayed_object(
            make_call(function, std::move(args), std::move(kwargs), std::move(name), task_options(retries)));
      },
      py::arg("function"), py::arg("args"), py::arg("kwargs"), py::arg("name"), py::arg("retries") = 0);
  m.def(
      "_literal",
      [](py::object value, std::string name, int number) {
        return delayed_object(
            make_literal(value, std::move(name), number >= 0 ? number : next_call_number()));
      },
      py::arg("value"), py::arg("name"), py::arg("number") = -1);

  bind_io(m);
}
