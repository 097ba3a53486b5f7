#include "py_object.h"

#include <atomic>
#include <mutex>
#include <new>
#include <vector>

namespace tessera::python {
namespace {

// References dropped by threads without the GIL. Allocated once and never freed: threads may still drop
// references while static destructors run at exit.
struct Released {
  std::mutex mu;
  std::vector<PyObject*> objects;
  std::atomic<bool> any{false};
};
Released& released() {
  static Released* r = new Released;
  return *r;
}

thread_local PyThreadState* t_state = nullptr;
thread_local bool t_in_task = false;

PyObject* g_dumps = nullptr;
PyObject* g_loads = nullptr;

std::string text_of(PyObject* object) {
  if (object == nullptr) return "";
  PyObject* s = PyObject_Str(object);
  if (s == nullptr) {
    PyErr_Clear();
    return "<unprintable>";
  }
  Py_ssize_t n = 0;
  const char* utf8 = PyUnicode_AsUTF8AndSize(s, &n);
  std::string out = utf8 != nullptr ? std::string(utf8, static_cast<std::size_t>(n)) : "<unprintable>";
  if (utf8 == nullptr) PyErr_Clear();
  Py_DECREF(s);
  return out;
}

ErrorCode code_of(PyObject* type, PyObject* value) {
  // A tessera error raised inside a task (ts.Error and its subclasses carry `code`) keeps its code.
  if (PyObject* code = value != nullptr ? PyObject_GetAttrString(value, "_tessera_code") : nullptr) {
    const std::string name = text_of(code);
    Py_DECREF(code);
    if (std::optional<ErrorCode> c = code_from_name(name)) return *c;
  } else {
    PyErr_Clear();
  }
  if (PyErr_GivenExceptionMatches(type, PyExc_MemoryError)) return ErrorCode::kResourceExhausted;
  if (PyErr_GivenExceptionMatches(type, PyExc_FileNotFoundError)) return ErrorCode::kNotFound;
  if (PyErr_GivenExceptionMatches(type, PyExc_OSError)) return ErrorCode::kIo;
  if (PyErr_GivenExceptionMatches(type, PyExc_KeyboardInterrupt)) return ErrorCode::kCancelled;
  // Any other exception: the task's function rejected what it was given.
  return ErrorCode::kInvalidArgument;
}

}  // namespace

std::string_view code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kIo:
      return "io";
    case ErrorCode::kCorrupt:
      return "corrupt";
    case ErrorCode::kResourceExhausted:
      return "resource_exhausted";
    case ErrorCode::kCancelled:
      return "cancelled";
    case ErrorCode::kInternal:
      break;
  }
  return "internal";
}

std::optional<ErrorCode> code_from_name(std::string_view name) noexcept {
  for (ErrorCode c : {ErrorCode::kInvalidArgument, ErrorCode::kNotFound, ErrorCode::kIo, ErrorCode::kCorrupt,
                      ErrorCode::kResourceExhausted, ErrorCode::kCancelled, ErrorCode::kInternal}) {
    if (code_name(c) == name) return c;
  }
  return std::nullopt;
}

void release(PyObject* object) noexcept {
  if (object == nullptr || !Py_IsInitialized() || _Py_IsFinalizing()) return;
  if (PyGILState_Check()) {
    Py_DECREF(object);
    return;
  }
  Released& r = released();
  try {
    std::lock_guard lock(r.mu);
    r.objects.push_back(object);
    r.any.store(true, std::memory_order_release);
  } catch (const std::bad_alloc&) {
    // Leaking one reference is better than failing a run.
  }
}

void drain_released() noexcept {
  Released& r = released();
  if (!r.any.load(std::memory_order_acquire)) return;
  std::vector<PyObject*> objects;
  {
    std::lock_guard lock(r.mu);
    objects.swap(r.objects);
    r.any.store(false, std::memory_order_relaxed);
  }
  for (PyObject* o : objects) Py_DECREF(o);
}

GilHold::GilHold() {
  if (t_state != nullptr) {
    PyEval_RestoreThread(t_state);
    return;
  }
  // A Python thread (the one that called compute) has its own state; a thread of tessera's gets one, which it
  // keeps: PyGILState_Ensure without the matching Release leaves it registered for the thread's life.
  if (PyThreadState* own = PyGILState_GetThisThreadState()) {
    t_state = own;
    PyEval_RestoreThread(own);
    return;
  }
  PyGILState_Ensure();
  t_state = PyThreadState_Get();
}

GilHold::~GilHold() {
  PyEval_SaveThread();
}

bool in_python_task() noexcept {
  return t_in_task;
}

PythonTaskScope::PythonTaskScope() noexcept : outer_(t_in_task) {
  t_in_task = true;
}
PythonTaskScope::~PythonTaskScope() {
  t_in_task = outer_;
}

PythonFailure fetch_python_error() {
  PyObject *type = nullptr, *value = nullptr, *tb = nullptr;
  PyErr_Fetch(&type, &value, &tb);
  if (type == nullptr) return {ErrorCode::kInternal, "a Python call failed without an exception"};
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb != nullptr && value != nullptr) PyException_SetTraceback(value, tb);
  PythonFailure failure{code_of(type, value), ""};
  const char* type_name = reinterpret_cast<PyTypeObject*>(type)->tp_name;
  if (const char* dot = std::strrchr(type_name, '.')) type_name = dot + 1;
  const std::string message = text_of(value);
  failure.text = message.empty() ? type_name : std::string(type_name) + ": " + message;
  // The traceback as Python prints it; kept as text so that it can travel to every rank.
  if (PyObject* module = PyImport_ImportModule("traceback")) {
    PyObject* lines = PyObject_CallMethod(module, "format_exception", "OOO", type, value ? value : Py_None,
                                          tb ? tb : Py_None);
    if (lines != nullptr) {
      PyObject* empty = PyUnicode_FromString("");
      PyObject* joined = empty ? PyUnicode_Join(empty, lines) : nullptr;
      if (joined != nullptr) failure.text += "\n" + text_of(joined);
      Py_XDECREF(joined);
      Py_XDECREF(empty);
      Py_DECREF(lines);
    }
    Py_DECREF(module);
  }
  PyErr_Clear();
  while (!failure.text.empty() && failure.text.back() == '\n') failure.text.pop_back();
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  return failure;
}

void throw_python_error(const std::string& context) {
  PythonFailure f = fetch_python_error();
  throw Error(f.code, context + f.text);
}

void set_pickle_functions(PyObject* dumps, PyObject* loads) {
  Py_XINCREF(dumps);
  Py_XINCREF(loads);
  g_dumps = dumps;
  g_loads = loads;
}

std::string pickle(PyObject* object) {
  PyObject* bytes = PyObject_CallFunction(g_dumps, "Oi", object, 5);
  if (bytes == nullptr) {
    PythonFailure f = fetch_python_error();
    const std::string first_line = f.text.substr(0, f.text.find('\n'));
    throw Error(
        ErrorCode::kInvalidArgument,
        std::string("the result (") + Py_TYPE(object)->tp_name +
            ") cannot be pickled, and a result must be picklable to move between MPI ranks or to spill: " +
            first_line);
  }
  char* data = nullptr;
  Py_ssize_t n = 0;
  PyBytes_AsStringAndSize(bytes, &data, &n);
  std::string out(data, static_cast<std::size_t>(n));
  Py_DECREF(bytes);
  return out;
}

PyObject* PyValue::get() const {
  if (object_) return object_.get();
  PyObject* view = PyMemoryView_FromMemory(const_cast<char*>(pickled_.data()),
                                           static_cast<Py_ssize_t>(pickled_.size()), PyBUF_READ);
  PyObject* object = view != nullptr ? PyObject_CallOneArg(g_loads, view) : nullptr;
  Py_XDECREF(view);
  if (object == nullptr)
    throw_python_error("a Python result received from another rank cannot be unpickled: ");
  // Unpickling runs Python code, which may let another thread in to unpickle the same value: keep the first.
  if (object_) {
    Py_DECREF(object);
  } else {
    object_ = PyRef::steal(object);
  }
  return object_.get();
}

}  // namespace tessera::python
