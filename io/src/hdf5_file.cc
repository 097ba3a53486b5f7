#include "hdf5_file.h"

#include <hdf5_hl.h>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace tessera::io::detail {

namespace {

// HDF5 prints its error stack to stderr by default; tessera turns it into exceptions instead.
void silence_hdf5_once() {
  static const bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

}  // namespace

std::unique_lock<std::recursive_mutex> hdf5_lock() {
  static std::recursive_mutex mutex;
  std::unique_lock<std::recursive_mutex> lock(mutex);
  silence_hdf5_once();
  return lock;
}

std::string hdf5_message() {
  struct Walk {
    std::vector<std::string> parts;
  } walk;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* data) -> herr_t {
        auto* w = static_cast<Walk*>(data);
        if (e->desc != nullptr && *e->desc != '\0') w->parts.emplace_back(e->desc);
        return 0;
      },
      &walk);
  H5Eclear2(H5E_DEFAULT);
  // The innermost messages say what was wrong ("truncated file ..."), the outer ones what was being done.
  std::string out;
  for (const auto& p : walk.parts) {
    if (!out.empty()) out += ": ";
    out += p;
  }
  return out;
}

Hid sec2_access() {
  Hid fapl(check_id(H5Pcreate(H5P_FILE_ACCESS), ErrorCode::kInternal, "cannot make a file access list"));
  check(H5Pset_fapl_sec2(fapl.get()), ErrorCode::kInternal, "cannot select the sec2 file driver");
  return fapl;
}

bool hdf5_error_is_io() {
  bool io = false;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* data) -> herr_t {
        if (e->maj_num == H5E_IO || e->min_num == H5E_READERROR || e->min_num == H5E_SEEKERROR) {
          *static_cast<bool*>(data) = true;
        }
        return 0;
      },
      &io);
  return io;
}

hid_t check_id(hid_t id, ErrorCode code, const std::string& context) {
  if (id < 0) {
    std::string why = hdf5_message();
    throw Error(code, why.empty() ? context : context + " (HDF5: " + why + ")");
  }
  return id;
}

herr_t check(herr_t status, ErrorCode code, const std::string& context) {
  if (status < 0) {
    std::string why = hdf5_message();
    throw Error(code, why.empty() ? context : context + " (HDF5: " + why + ")");
  }
  return status;
}

void Hid::reset() noexcept {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE:
      H5Fclose(id_);
      break;
    case H5I_GROUP:
      H5Gclose(id_);
      break;
    case H5I_DATASET:
      H5Dclose(id_);
      break;
    case H5I_DATASPACE:
      H5Sclose(id_);
      break;
    case H5I_DATATYPE:
      H5Tclose(id_);
      break;
    case H5I_ATTR:
      H5Aclose(id_);
      break;
    case H5I_GENPROP_LST:
      H5Pclose(id_);
      break;
    default:
      H5Idec_ref(id_);
      break;
  }
  id_ = H5I_INVALID_HID;
}

StoredType describe_type(hid_t type) {
  StoredType t;
  H5T_class_t cls = H5Tget_class(type);
  t.size = H5Tget_size(type);
  auto order_char = [&] { return H5Tget_order(type) == H5T_ORDER_BE ? '>' : '<'; };
  switch (cls) {
    case H5T_INTEGER: {
      t.is_signed = H5Tget_sign(type) == H5T_SGN_2;
      t.big_endian = H5Tget_order(type) == H5T_ORDER_BE;
      t.numpy = std::string(1, t.size == 1 ? '|' : order_char()) + (t.is_signed ? "i" : "u") +
                std::to_string(t.size);
      t.supported = true;
      if (t.is_signed) {
        switch (t.size) {
          case 1:
          case 2:
            t.dtype = DType::kInt16;
            break;  // int8 has no tessera dtype: widened
          case 4:
            t.dtype = DType::kInt32;
            break;
          case 8:
            t.dtype = DType::kInt64;
            break;
          default:
            t.supported = false;
            t.why = str_cat(t.size, "-byte integer");
        }
      } else {
        switch (t.size) {
          case 1:
            t.dtype = DType::kUint8;
            break;
          case 2:
            t.dtype = DType::kInt32;
            break;
          case 4:
            t.dtype = DType::kInt64;
            break;
          default:
            t.supported = false;
            t.why = t.size == 8 ? "uint64 (no tessera dtype holds all its values)"
                                : str_cat(t.size, "-byte unsigned");
        }
      }
      break;
    }
    case H5T_FLOAT:
      t.is_float = true;
      t.big_endian = H5Tget_order(type) == H5T_ORDER_BE;
      t.numpy = std::string(1, order_char()) + "f" + std::to_string(t.size);
      if (t.size == 4 || t.size == 8) {
        t.supported = true;
        t.dtype = t.size == 4 ? DType::kFloat32 : DType::kFloat64;
      } else {
        t.why = str_cat(t.size * 8, "-bit float");
      }
      break;
    case H5T_STRING:
      t.why = H5Tis_variable_str(type) > 0 ? "variable-length string" : "fixed-length string";
      t.numpy = "string";
      break;
    default: {
      // Non-numeric classes: named by what they are; tessera reads none of them.
      const char* name = cls == H5T_COMPOUND    ? "compound"
                         : cls == H5T_VLEN      ? "vlen"
                         : cls == H5T_ENUM      ? "enum"
                         : cls == H5T_ARRAY     ? "array"
                         : cls == H5T_OPAQUE    ? "opaque"
                         : cls == H5T_REFERENCE ? "reference"
                         : cls == H5T_BITFIELD  ? "bitfield"
                                                : "unknown";
      t.numpy = name;
      t.why = cls == H5T_VLEN                       ? "variable-length"
              : std::string_view(name) == "unknown" ? "unknown type class"
                                                    : name;
      break;
    }
  }
  return t;
}

namespace {

bool internal_attribute(std::string_view name) {
  return name == "CLASS" || name == "NAME" || name == "DIMENSION_LIST" || name == "REFERENCE_LIST" ||
         name == "_Netcdf4Dimid" || name == "_Netcdf4Coordinates" || name == "_NCProperties" ||
         name == "_nc3_strict" || name == "_NCProperties";
}

std::string type_name(hid_t type) {
  StoredType st = describe_type(type);
  if (!st.supported) return st.numpy;
  if (st.is_float) return st.size == 4 ? "float32" : "float64";
  return str_cat(st.is_signed ? "int" : "uint", st.size * 8);
}

AttributeValue read_attribute_value(hid_t attr) {
  Hid type(check_id(H5Aget_type(attr), ErrorCode::kCorrupt, "cannot read an attribute's type"));
  Hid space(check_id(H5Aget_space(attr), ErrorCode::kCorrupt, "cannot read an attribute's shape"));
  hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 0) n = 0;
  H5T_class_t cls = H5Tget_class(type.get());
  if (cls == H5T_STRING) {
    if (H5Tis_variable_str(type.get()) > 0) {
      std::vector<char*> ptrs(static_cast<std::size_t>(std::max<hssize_t>(n, 1)), nullptr);
      Hid mem(H5Tcopy(H5T_C_S1));
      H5Tset_size(mem.get(), H5T_VARIABLE);
      check(H5Aread(attr, mem.get(), ptrs.data()), ErrorCode::kCorrupt, "cannot read a string attribute");
      std::string out;
      for (hssize_t i = 0; i < n; ++i) {
        if (i > 0) out += ", ";
        if (ptrs[static_cast<std::size_t>(i)] != nullptr) out += ptrs[static_cast<std::size_t>(i)];
      }
      H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data());
      return AttributeValue(out);
    }
    std::size_t size = H5Tget_size(type.get());
    std::vector<char> buf(size * static_cast<std::size_t>(std::max<hssize_t>(n, 1)) + 1, '\0');
    check(H5Aread(attr, type.get(), buf.data()), ErrorCode::kCorrupt, "cannot read a text attribute");
    std::string out;
    for (hssize_t i = 0; i < n; ++i) {
      const char* s = buf.data() + static_cast<std::size_t>(i) * size;
      if (i > 0) out += ", ";
      out.append(s, strnlen(s, size));
    }
    return AttributeValue(out);
  }
  if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
    std::vector<double> values(static_cast<std::size_t>(n));
    check(H5Aread(attr, H5T_NATIVE_DOUBLE, values.data()), ErrorCode::kCorrupt,
          "cannot read a numeric attribute");
    return AttributeValue(std::move(values), type_name(type.get()));
  }
  AttributeValue v(std::string("<") + describe_type(type.get()).numpy + ">");
  v.type = describe_type(type.get()).numpy;
  return v;
}

}  // namespace

namespace {

// The object references of a DIMENSION_LIST attribute (a vlen of references per axis), as addresses.
bool read_dimension_list(hid_t attr, std::vector<std::vector<haddr_t>>& out) {
  Hid type(H5Aget_type(attr));
  Hid space(H5Aget_space(attr));
  if (!type || !space || H5Tget_class(type.get()) != H5T_VLEN) return false;
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n <= 0) return false;
  Hid base(H5Tget_super(type.get()));
  if (!base || H5Tequal(base.get(), H5T_STD_REF_OBJ) <= 0) return false;
  Hid mem(H5Tvlen_create(H5T_STD_REF_OBJ));
  if (!mem) return false;
  std::vector<hvl_t> lists(static_cast<std::size_t>(n));
  if (H5Aread(attr, mem.get(), lists.data()) < 0) return false;
  out.assign(lists.size(), {});
  for (std::size_t axis = 0; axis < lists.size(); ++axis) {
    const auto* refs = static_cast<const hobj_ref_t*>(lists[axis].p);
    for (std::size_t k = 0; k < lists[axis].len; ++k) out[axis].push_back(static_cast<haddr_t>(refs[k]));
  }
  H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, lists.data());
  return true;
}

struct AttributePass {
  Attributes out;
  bool all = false;
  Bookkeeping* bookkeeping = nullptr;
};

herr_t visit_attribute(hid_t loc, const char* name, const H5A_info_t*, void* data) {
  auto* c = static_cast<AttributePass*>(data);
  const std::string_view n(name);
  if (!c->all && internal_attribute(n)) {
    Bookkeeping* b = c->bookkeeping;
    if (b == nullptr) return 0;
    if (n == "_NCProperties") {
      b->nc_properties = true;
    } else if (n == "DIMENSION_LIST") {
      b->has_dimension_list = true;
      Hid attr(H5Aopen(loc, name, H5P_DEFAULT));
      if (!attr || !read_dimension_list(attr.get(), b->dimension_list)) b->dimension_list.clear();
      H5Eclear2(H5E_DEFAULT);
    } else if (n == "CLASS" || n == "NAME") {
      Hid attr(H5Aopen(loc, name, H5P_DEFAULT));
      if (!attr) return -1;
      try {
        const AttributeValue v = read_attribute_value(attr.get());
        if (n == "NAME") {
          b->scale_name = v.is_text() ? v.text() : v.str();
        } else {
          b->dimension_scale = v.is_text() && v.text() == "DIMENSION_SCALE";
        }
      } catch (...) {
        return -1;
      }
    }
    return 0;
  }
  Hid attr(H5Aopen(loc, name, H5P_DEFAULT));
  if (!attr) return -1;
  try {
    c->out.emplace_back(name, read_attribute_value(attr.get()));
  } catch (...) {
    return -1;
  }
  return 0;
}

Attributes attribute_pass(hid_t object, bool all, Bookkeeping* bookkeeping) {
  AttributePass pass{{}, all, bookkeeping};
  hsize_t idx = 0;
  if (H5Aiterate2(object, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, visit_attribute, &pass) < 0) {
    // Creation order is not tracked in this file: fall back to name order.
    H5Eclear2(H5E_DEFAULT);
    pass.out.clear();
    if (bookkeeping != nullptr) *bookkeeping = Bookkeeping{};
    idx = 0;
    check(H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, &idx, visit_attribute, &pass), ErrorCode::kCorrupt,
          "cannot read attributes");
  }
  return std::move(pass.out);
}

}  // namespace

Attributes read_attributes(hid_t object, bool all) {
  return attribute_pass(object, all, nullptr);
}

Attributes read_attributes(hid_t object, Bookkeeping& bookkeeping) {
  bookkeeping = Bookkeeping{};
  return attribute_pass(object, false, &bookkeeping);
}

void write_numeric_attribute(hid_t object, const std::string& name, hid_t type,
                             const std::vector<double>& values) {
  hsize_t n = values.size();
  Hid space(n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr));
  Hid attr(check_id(H5Acreate2(object, name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                    ErrorCode::kIo, str_cat("cannot create attribute ", name)));
  check(H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, values.data()), ErrorCode::kIo,
        str_cat("cannot write attribute ", name));
}

void write_attribute(hid_t object, const std::string& name, const AttributeValue& value) {
  if (value.is_text()) {
    const std::string& text = value.text();
    Hid type(H5Tcopy(H5T_C_S1));
    H5Tset_size(type.get(), std::max<std::size_t>(text.size(), 1));
    H5Tset_strpad(type.get(), H5T_STR_NULLTERM);
    H5Tset_cset(type.get(), H5T_CSET_UTF8);
    Hid space(H5Screate(H5S_SCALAR));
    Hid attr(check_id(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                      ErrorCode::kIo, str_cat("cannot create attribute ", name)));
    std::string padded = text.empty() ? std::string(1, '\0') : text;
    check(H5Awrite(attr.get(), type.get(), padded.data()), ErrorCode::kIo,
          str_cat("cannot write attribute ", name));
    return;
  }
  hid_t type = H5T_NATIVE_DOUBLE;
  const std::string& t = value.type;
  if (t == "float32")
    type = H5T_NATIVE_FLOAT;
  else if (t == "int8")
    type = H5T_NATIVE_SCHAR;
  else if (t == "uint8")
    type = H5T_NATIVE_UCHAR;
  else if (t == "int16")
    type = H5T_NATIVE_SHORT;
  else if (t == "uint16")
    type = H5T_NATIVE_USHORT;
  else if (t == "int32")
    type = H5T_NATIVE_INT;
  else if (t == "uint32")
    type = H5T_NATIVE_UINT;
  else if (t == "int64")
    type = H5T_NATIVE_LLONG;
  else if (t == "bool")
    type = H5T_NATIVE_SCHAR;
  write_numeric_attribute(object, name, type, value.numbers());
}

hid_t native_type(DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return H5T_NATIVE_SCHAR;  // NetCDF has no bool: stored as a byte
    case DType::kUint8:
      return H5T_NATIVE_UCHAR;
    case DType::kInt16:
      return H5T_NATIVE_SHORT;
    case DType::kInt32:
      return H5T_NATIVE_INT;
    case DType::kInt64:
      return H5T_NATIVE_LLONG;
    case DType::kFloat32:
      return H5T_NATIVE_FLOAT;
    case DType::kFloat64:
      return H5T_NATIVE_DOUBLE;
  }
  return H5T_NATIVE_DOUBLE;
}

}  // namespace tessera::io::detail
