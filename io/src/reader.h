// Reading a variable whose file's metadata is already known (an archive scanned its files once). Internal to
// io/.
#pragma once

#include <string>

#include "tessera/io/io.h"

namespace tessera::io::detail {

// io::read with the file's metadata given (`info` must be what io::inspect(path) gives).
Variable read_variable(const std::string& path, const FileInfo& info, const std::string& variable,
                       const ReadOptions& options);

// CF decoding of a raw variable: _FillValue/missing_value to NaN, scale_factor/add_offset unpacked, as
// elementwise operations over `raw`.
Array decode_cf(const Array& raw, const VariableInfo& v);

}  // namespace tessera::io::detail
