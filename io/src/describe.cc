// `tessera info`: a file's metadata as text.
#include <hdf5.h>

#include <cstdlib>
#include <sstream>

#include "tessera/io/io.h"
#include "tessera/runtime/format.h"

namespace tessera::io {

namespace {

// Bytes of the variable's elements as stored ("<f4": 4 per element; 0 for types tessera cannot read).
double stored_bytes(const VariableInfo& v) {
  if (!v.unsupported.empty() || v.stored_type.size() < 3) return 0;
  const int size = std::atoi(v.stored_type.c_str() + 2);
  return static_cast<double>(num_elements(v.shape)) * static_cast<double>(size);
}

std::string filters_text(const VariableInfo& v) {
  std::string s;
  for (const auto& f : v.filters) {
    s += (s.empty() ? "" : "+") + f.name;
    if (f.id == H5Z_FILTER_DEFLATE && !f.parameters.empty()) s += str_cat("(", f.parameters[0], ")");
  }
  return s;
}

std::string variable_line(const VariableInfo& v) {
  std::ostringstream out;
  out << "  " << v.stored_type << " " << v.name << "(";
  for (std::size_t a = 0; a < v.dims.size(); ++a) out << (a ? ", " : "") << v.dims[a];
  out << ")  " << format_shape(v.shape);
  if (!v.unsupported.empty()) {
    out << "  [" << v.unsupported << ": not readable as an array]";
    return out.str();
  }
  out << "  " << name_of(v.dtype);
  if (v.chunked)
    out << "  chunks " << format_shape(v.storage_chunks);
  else
    out << "  contiguous";
  const std::string f = filters_text(v);
  if (!f.empty()) out << "  " << f;
  if (v.storage_bytes > 0 && !v.filters.empty() && stored_bytes(v) > 0) {
    char r[32];
    std::snprintf(r, sizeof(r), "%.2fx", stored_bytes(v) / static_cast<double>(v.storage_bytes));
    out << "  " << r;
  }
  for (const char* key : {"long_name", "units", "calendar"}) {
    if (const auto* a = find_attribute(v.attributes, key)) out << "  " << key << "=" << a->str();
  }
  return out.str();
}

}  // namespace

std::string describe(const FileInfo& info, const std::string& variable) {
  std::ostringstream out;
  out << info.path << ": " << name_of(info.format) << ", "
      << format_bytes(static_cast<double>(info.file_bytes)) << "\n";
  if (!variable.empty()) {
    const VariableInfo& v = info.variable(variable);
    out << variable_line(v) << "\n";
    out << "  logical size " << format_bytes(stored_bytes(v)) << ", stored "
        << format_bytes(static_cast<double>(v.storage_bytes)) << "\n";
    for (const auto& [k, a] : v.attributes) out << "    " << k << " = " << a.str() << "\n";
    return out.str();
  }
  if (!info.dimensions.empty()) {
    out << "dimensions:";
    bool first = true;
    for (const auto& [k, n] : info.dimensions) {
      out << (first ? " " : ", ") << k << " = ";
      if (info.unlimited.count(k)) {
        out << "UNLIMITED (" << n << " currently)";
      } else {
        out << n;
      }
      first = false;
    }
    out << "\n";
  }
  out << "variables:\n";
  for (const auto& v : info.variables) {
    if (!v.dimension_only) out << variable_line(v) << "\n";
  }
  if (!info.attributes.empty()) {
    out << "global attributes:\n";
    for (const auto& [k, a] : info.attributes) out << "  " << k << " = " << a.str() << "\n";
  }
  return out.str();
}

}  // namespace tessera::io
