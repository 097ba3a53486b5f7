// Checks tessera's results against NumPy (Debian's python3-numpy): a test saves its inputs and tessera's
// results as .npy files with the NumPy expression that should produce each result; verify() runs one Python
// process that evaluates every expression and compares shape, dtype and values.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tessera/arrays/chunk.h"

namespace tessera::testing {

// Writes a chunk as a NumPy .npy file (format 1.0, C order, little endian).
inline void write_npy(const std::string& path, const Chunk& c) {
  const char* descr = "";
  switch (c.dtype()) {
    case DType::kBool:
      descr = "|b1";
      break;
    case DType::kUint8:
      descr = "|u1";
      break;
    case DType::kInt16:
      descr = "<i2";
      break;
    case DType::kInt32:
      descr = "<i4";
      break;
    case DType::kInt64:
      descr = "<i8";
      break;
    case DType::kFloat32:
      descr = "<f4";
      break;
    case DType::kFloat64:
      descr = "<f8";
      break;
  }
  std::string shape = "(";
  for (std::int64_t e : c.shape()) shape += std::to_string(e) + ", ";
  shape += ")";
  std::string header =
      std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const auto len = static_cast<std::uint16_t>(header.size());
  out.put(static_cast<char>(len & 0xff));
  out.put(static_cast<char>(len >> 8));
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(c.bytes()), static_cast<std::streamsize>(c.nbytes()));
}

struct Tolerance {
  double rtol = 0;  // 0 and atol 0: exact (NaNs equal)
  double atol = 0;
};

class NumpyOracle {
 public:
  NumpyOracle() {
    dir_ = std::filesystem::temp_directory_path() /
           ("tessera-oracle-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(dir_);
  }
  ~NumpyOracle() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Makes `name` an input of the NumPy expressions.
  void input(const std::string& name, const Chunk& c) {
    write_npy((dir_ / (name + ".npy")).string(), c);
    inputs_.push_back(name);
  }
  // NumPy must compute `result` (value and dtype; `dtype` overrides NumPy's where tessera differs on purpose)
  // from the inputs with `expr`, e.g. "x.mean(axis=0)".
  void expect(const std::string& name, const std::string& expr, const Chunk& result, Tolerance tol = {},
              std::optional<std::string> dtype = std::nullopt) {
    write_npy((dir_ / ("result-" + std::to_string(cases_.size()) + ".npy")).string(), result);
    cases_.push_back(Case{name, expr, tol, dtype});
  }

  // Runs NumPy over every case and reports each failure as a test failure.
  void verify() {
    std::ofstream m(dir_ / "manifest.txt");
    for (const std::string& in : inputs_) m << "input\t" << in << "\n";
    for (std::size_t i = 0; i < cases_.size(); ++i) {
      const Case& c = cases_[i];
      m << "case\t" << c.name << "\t" << (dir_ / ("result-" + std::to_string(i) + ".npy")).string() << "\t"
        << c.tol.rtol << "\t" << c.tol.atol << "\t" << c.dtype.value_or("-") << "\t" << c.expr << "\n";
    }
    m.close();
    const std::string cmd =
        std::string(TESSERA_PYTHON) + " " + TESSERA_NUMPY_CHECKER + " " + dir_.string() + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr) << "cannot run " << cmd;
    std::string output;
    char buf[4096];
    while (std::fgets(buf, sizeof(buf), p) != nullptr) output += buf;
    const int rc = ::pclose(p);
    if (output.find("NUMPY MISSING") != std::string::npos) {
      GTEST_SKIP() << "SKIPPED LOUDLY: NumPy is not available to " << TESSERA_PYTHON
                   << " (Debian: apt-get install python3-numpy); nothing was compared";
    }
    ASSERT_EQ(rc, 0) << "the NumPy checker failed:\n" << output;
    std::size_t ok = 0, failed = 0, pos = 0;
    while (pos < output.size()) {
      const std::size_t end = output.find('\n', pos);
      const std::string line = output.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      pos = end == std::string::npos ? output.size() : end + 1;
      if (line.rfind("OK ", 0) == 0) ++ok;
      if (line.rfind("FAIL ", 0) == 0) {
        ++failed;
        ADD_FAILURE() << "NumPy disagrees: " << line.substr(5);
      }
    }
    EXPECT_EQ(ok + failed, cases_.size()) << "the checker did not report every case:\n" << output;
  }

 private:
  struct Case {
    std::string name, expr;
    Tolerance tol;
    std::optional<std::string> dtype;
  };
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::filesystem::path dir_;
  std::vector<std::string> inputs_;
  std::vector<Case> cases_;
};

}  // namespace tessera::testing
