#include "filters.h"

#include <H5PLpublic.h>

#include <cstdlib>
#include <utility>

#include "tessera/runtime/error.h"

namespace tessera::io {

std::vector<Filter> read_filters(hid_t dcpl) {
  std::vector<Filter> out;
  const int n = H5Pget_nfilters(dcpl);
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0;
    std::size_t nelmts = 16;
    unsigned values[16] = {};
    char name[128] = {};
    unsigned config = 0;
    const H5Z_filter_t id =
        H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &nelmts, values, sizeof(name), name, &config);
    Filter f;
    f.id = static_cast<int>(id);
    switch (id) {
      case H5Z_FILTER_DEFLATE:
        f.name = "deflate";
        break;
      case H5Z_FILTER_SHUFFLE:
        f.name = "shuffle";
        break;
      case H5Z_FILTER_FLETCHER32:
        f.name = "fletcher32";
        break;
      case H5Z_FILTER_SZIP:
        f.name = "szip";
        break;
      case H5Z_FILTER_NBIT:
        f.name = "nbit";
        break;
      case H5Z_FILTER_SCALEOFFSET:
        f.name = "scaleoffset";
        break;
      default:
        f.name = name[0] ? std::string(name) : registered_filter_name(static_cast<int>(id));
        break;
    }
    f.parameters.assign(values, values + std::min<std::size_t>(nelmts, 16));
    out.push_back(std::move(f));
  }
  return out;
}

std::string registered_filter_name(int id) {
  // From the HDF Group's registry of filter ids (the ones climate and array data use most).
  static constexpr std::pair<int, const char*> kRegistered[] = {
      {307, "bzip2"},        {32000, "lzf"}, {32001, "blosc"}, {32004, "lz4"},
      {32008, "bitshuffle"}, {32013, "zfp"}, {32015, "zstd"},  {32017, "sz"},
      {32018, "fcidecomp"},  {32024, "sz3"}, {32026, "blosc2"}};
  for (const auto& [registered, name] : kRegistered) {
    if (registered == id) return name;
  }
  return str_cat("filter ", id);
}

namespace {

// Where this HDF5 library looks for filter plugins (HDF5_PLUGIN_PATH, else its built-in default).
std::string plugin_path() {
  unsigned n = 0;
  std::string out;
  if (H5PLsize(&n) >= 0) {
    for (unsigned i = 0; i < n; ++i) {
      char dir[4096] = {};
      if (H5PLget(i, dir, sizeof(dir)) <= 0) continue;
      if (!out.empty()) out += ":";
      out += dir;
    }
  }
  H5Eclear2(H5E_DEFAULT);
  return out.empty() ? std::string("nowhere") : out;
}

}  // namespace

void require_filters_available(const std::string& path, const VariableInfo& variable) {
  for (const Filter& f : variable.filters) {
    const htri_t available = H5Zfilter_avail(static_cast<H5Z_filter_t>(f.id));
    H5Eclear2(H5E_DEFAULT);
    if (available > 0) continue;
    const char* env = std::getenv("HDF5_PLUGIN_PATH");
    throw_error(
        ErrorCode::kInvalidArgument, "variable \"", variable.name, "\" in ", path,
        " is stored with the HDF5 filter \"", f.name, "\" (id ", f.id,
        "), which this HDF5 library cannot decode: no plugin for it was found. HDF5 looks for plugins in ",
        plugin_path(), " (HDF5_PLUGIN_PATH ",
        env != nullptr ? str_cat("is ", env) : std::string("is not set"),
        "); install the filter's HDF5 plugin and set HDF5_PLUGIN_PATH to its directory");
  }
}

}  // namespace tessera::io
