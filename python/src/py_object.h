// Python objects seen from tessera's threads: taking the GIL for a Python task, references that may be
// dropped on any thread, and Python results as task values (PyValue) with a codec so they can cross MPI
// ranks.
#pragma once

#include <Python.h>

#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "tessera/runtime/error.h"
#include "tessera/runtime/value.h"

namespace tessera::python {

// Drops a reference: now when this thread holds the GIL, otherwise later, by the next thread of ours that
// takes it (drain_released). Executor and MPI communication threads drop results without the GIL, and
// waiting for it there could stall a run behind a long Python task. Never blocks; leaks after the
// interpreter has finalised.
void release(PyObject* object) noexcept;
// Drops the references queued by release(). GIL held.
void drain_released() noexcept;

// An owned reference that any thread may drop (see release). Move-only: copying would need the GIL.
class PyRef {
 public:
  PyRef() noexcept = default;
  static PyRef steal(PyObject* object) noexcept { return PyRef(object); }
  static PyRef borrow(PyObject* object) noexcept {  // GIL held
    Py_XINCREF(object);
    return PyRef(object);
  }
  PyRef(PyRef&& other) noexcept : object_(std::exchange(other.object_, nullptr)) {}
  PyRef& operator=(PyRef&& other) noexcept {
    if (this != &other) {
      reset();
      object_ = std::exchange(other.object_, nullptr);
    }
    return *this;
  }
  PyRef(const PyRef&) = delete;
  PyRef& operator=(const PyRef&) = delete;
  ~PyRef() { reset(); }

  PyObject* get() const noexcept { return object_; }
  explicit operator bool() const noexcept { return object_ != nullptr; }
  PyObject* release_ownership() noexcept { return std::exchange(object_, nullptr); }
  void reset() noexcept {
    if (object_ != nullptr) release(std::exchange(object_, nullptr));
  }

 private:
  explicit PyRef(PyObject* object) noexcept : object_(object) {}
  PyObject* object_ = nullptr;
};

// Holds the GIL on the calling thread for its lifetime, from any thread: an executor thread gets a Python
// thread state the first time and keeps it for the thread's life, so a task pays for the GIL's lock only.
// The calling thread must not hold the GIL already.
class GilHold {
 public:
  GilHold();
  ~GilHold();
  GilHold(const GilHold&) = delete;
  GilHold& operator=(const GilHold&) = delete;
};

// Whether the calling thread is running a Python task (compute() from inside a task is refused).
bool in_python_task() noexcept;
class PythonTaskScope {
 public:
  PythonTaskScope() noexcept;
  ~PythonTaskScope();
  PythonTaskScope(const PythonTaskScope&) = delete;
  PythonTaskScope& operator=(const PythonTaskScope&) = delete;

 private:
  bool outer_;
};

// Python's names for error codes (ts.Error.code): "invalid_argument", "not_found", "io", "corrupt",
// "resource_exhausted", "cancelled", "internal".
std::string_view code_name(ErrorCode code) noexcept;
std::optional<ErrorCode> code_from_name(std::string_view name) noexcept;

// The message and code of the Python exception now set (which it clears): "ZeroDivisionError: division by
// zero", then the traceback text. GIL held.
struct PythonFailure {
  ErrorCode code;
  std::string text;
};
PythonFailure fetch_python_error();
// Throws the Python exception now set as tessera::Error, prefixed by `context`. GIL held.
[[noreturn]] void throw_python_error(const std::string& context = "");

// pickle.dumps / pickle.loads (protocol 5), set once at import. GIL held.
void set_pickle_functions(PyObject* dumps, PyObject* loads);
// The pickled bytes of `object`, or throws tessera::Error(kInvalidArgument) saying why it cannot be pickled.
std::string pickle(PyObject* object);

// A Python object as a task's result. On one process it is the object itself; a value that may leave the
// process (MPI, spilling) also carries its pickled bytes, made by the task that produced it while it held the
// GIL, so that no MPI or executor thread ever needs the GIL. A value received from another rank holds only
// the bytes until a holder of the GIL first asks for the object.
class PyValue {
 public:
  PyValue() = default;
  PyValue(PyRef object, std::string pickled) : object_(std::move(object)), pickled_(std::move(pickled)) {}
  explicit PyValue(std::string pickled) : pickled_(std::move(pickled)) {}

  // The object, unpickled on first use. GIL held. Returns a borrowed reference; throws tessera::Error when
  // the bytes cannot be unpickled.
  PyObject* get() const;
  const std::string& pickled() const noexcept { return pickled_; }
  std::string& pickled() noexcept { return pickled_; }

 private:
  mutable PyRef object_;
  std::string pickled_;
};

}  // namespace tessera::python

namespace tessera {

template <>
struct Codec<python::PyValue> {
  static constexpr bool kDefined = true;
  static constexpr bool kInPlace = true;
  static std::size_t size(const python::PyValue& v) { return checked(v).size(); }
  static void encode(const python::PyValue& v, std::byte* out) {
    const std::string& bytes = checked(v);
    std::memcpy(out, bytes.data(), bytes.size());
  }
  static python::PyValue decode(const std::byte* in, std::size_t n) {
    return python::PyValue(std::string(reinterpret_cast<const char*>(in), n));
  }
  static python::PyValue make_for_receive(std::size_t n) { return python::PyValue(std::string(n, '\0')); }
  static std::byte* receive_bytes(python::PyValue& v) {
    return reinterpret_cast<std::byte*>(v.pickled().data());
  }

 private:
  static const std::string& checked(const python::PyValue& v) {
    // A pickle is never empty, so empty bytes mean the value was made for this process only.
    if (v.pickled().empty()) {
      throw_error(ErrorCode::kInternal,
                  "a Python task's result was not pickled, but must leave the process (MPI or spilling)");
    }
    return v.pickled();
  }
};

}  // namespace tessera
