// HDF5 filter pipelines: what a dataset's filters are, and whether this HDF5 library can decode them.
#pragma once

#include <hdf5.h>

#include <string>
#include <vector>

#include "tessera/io/io.h"

namespace tessera::io {

// The filters of a dataset creation property list, in pipeline order, named ("deflate", "blosc", ...).
std::vector<Filter> read_filters(hid_t dcpl);

// The name the HDF Group's filter registry gives `id` ("blosc" for 32001), or "filter <id>".
std::string registered_filter_name(int id);

// Throws Error(kInvalidArgument) when a filter of `variable` (in `path`) is not available to this HDF5
// library (no built-in decoder and no plugin found), naming the variable, the filter (name and id) and where
// HDF5 looks for plugins (HDF5_PLUGIN_PATH). Reading it could never succeed, so it is refused before any
// work. Caller holds the HDF5 lock.
void require_filters_available(const std::string& path, const VariableInfo& variable);

}  // namespace tessera::io
