#include "io_util.h"

#include <array>
#include <bit>

namespace tessera::io::detail {

void pread_all(int fd, void* out, std::size_t n, std::uint64_t offset, const std::string& where) {
  auto* p = static_cast<char*>(out);
  std::size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, p + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw_error(ErrorCode::kIo, where, ": read of ", n, " bytes at offset ", offset,
                  " failed: ", std::strerror(errno));
    }
    if (r == 0) {
      throw_error(ErrorCode::kCorrupt, where, ": the file ends at byte ", offset + done, " but ", n,
                  " bytes were expected at offset ", offset, " (truncated file?)");
    }
    done += static_cast<std::size_t>(r);
  }
}

void pwrite_all(int fd, const void* data, std::size_t n, std::uint64_t offset, const std::string& where) {
  const auto* p = static_cast<const char*>(data);
  std::size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pwrite(fd, p + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw_error(errno == ENOSPC ? ErrorCode::kResourceExhausted : ErrorCode::kIo, where, ": write of ", n,
                  " bytes at offset ", offset, " failed: ", std::strerror(errno));
    }
    done += static_cast<std::size_t>(r);
  }
}

void shuffle(const std::byte* in, std::byte* out, std::size_t n, std::size_t width) noexcept {
  const std::size_t elems = n / width;
  for (std::size_t b = 0; b < width; ++b) {
    std::byte* o = out + b * elems;
    for (std::size_t e = 0; e < elems; ++e) o[e] = in[e * width + b];
  }
  std::memcpy(out + elems * width, in + elems * width, n - elems * width);  // HDF5 leaves a remainder as is
}

void unshuffle(const std::byte* in, std::byte* out, std::size_t n, std::size_t width) noexcept {
  const std::size_t elems = n / width;
  for (std::size_t b = 0; b < width; ++b) {
    const std::byte* i = in + b * elems;
    for (std::size_t e = 0; e < elems; ++e) out[e * width + b] = i[e];
  }
  std::memcpy(out + elems * width, in + elems * width, n - elems * width);
}

namespace {

template <class S>
S load(const std::byte* p, bool swap) noexcept {
  S v;
  std::memcpy(&v, p, sizeof(S));
  if (swap && sizeof(S) > 1) {
    auto* b = reinterpret_cast<unsigned char*>(&v);
    for (std::size_t i = 0; i < sizeof(S) / 2; ++i) std::swap(b[i], b[sizeof(S) - 1 - i]);
  }
  return v;
}

template <class S, class D>
void convert_as(const std::byte* in, bool swap, D* out, std::size_t n) noexcept {
  if constexpr (std::is_same_v<S, D>) {
    if (!swap) {
      std::memcpy(out, in, n * sizeof(S));
      return;
    }
  }
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<D>(load<S>(in + i * sizeof(S), swap));
}

template <class D>
void convert_to(const std::byte* in, const StoredType& from, D* out, std::size_t n) {
  const bool swap = from.big_endian != (std::endian::native == std::endian::big);
  if (from.is_float) {
    if (from.size == 4) return convert_as<float>(in, swap, out, n);
    return convert_as<double>(in, swap, out, n);
  }
  if (from.is_signed) {
    switch (from.size) {
      case 1:
        return convert_as<std::int8_t>(in, swap, out, n);
      case 2:
        return convert_as<std::int16_t>(in, swap, out, n);
      case 4:
        return convert_as<std::int32_t>(in, swap, out, n);
      default:
        return convert_as<std::int64_t>(in, swap, out, n);
    }
  }
  switch (from.size) {
    case 1:
      return convert_as<std::uint8_t>(in, swap, out, n);
    case 2:
      return convert_as<std::uint16_t>(in, swap, out, n);
    case 4:
      return convert_as<std::uint32_t>(in, swap, out, n);
    default:
      return convert_as<std::uint64_t>(in, swap, out, n);
  }
}

}  // namespace

void convert_elements(const std::byte* in, const StoredType& from, std::byte* out, DType to, std::size_t n) {
  visit_dtype(to, [&](auto t) {
    using T = typename decltype(t)::type;
    convert_to<T>(in, from, reinterpret_cast<T*>(out), n);
  });
}

namespace {

constexpr std::uint32_t kCrc32cPolynomial = 0x82f63b78;  // reversed Castagnoli

std::uint32_t crc32c_table(std::uint32_t crc, const unsigned char* p, std::size_t n) noexcept {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kCrc32cPolynomial : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(std::uint32_t crc, const unsigned char* p,
                                                             std::size_t n) noexcept {
  std::uint64_t c = crc;
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
  }
  crc = static_cast<std::uint32_t>(c);
  for (; n > 0; --n, ++p) crc = __builtin_ia32_crc32qi(crc, *p);
  return crc;
}
#endif

}  // namespace

std::uint32_t crc32c_of(const void* data, std::size_t n) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t crc = 0xffffffffu;
#if defined(__x86_64__) && defined(__GNUC__)
  // Chosen at run time (not with target_clones, whose load-time resolver ThreadSanitizer cannot run).
  static const bool sse42 = __builtin_cpu_supports("sse4.2");
  crc = sse42 ? crc32c_sse42(crc, p, n) : crc32c_table(crc, p, n);
#else
  crc = crc32c_table(crc, p, n);
#endif
  return ~crc;
}

}  // namespace tessera::io::detail
