#include "io_util.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
  if (n > elems * width)
    std::memcpy(out + elems * width, in + elems * width, n - elems * width);  // HDF5 leaves a remainder as is
}

namespace {

#if defined(__SSE2__)
// 16 elements of 4 bytes at a time: the four byte planes interleaved with unpack instructions.
std::size_t unshuffle4(const std::byte* in, std::byte* out, std::size_t elems) noexcept {
  std::size_t e = 0;
  for (; e + 16 <= elems; e += 16) {
    const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + e));
    const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + elems + e));
    const __m128i b2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + 2 * elems + e));
    const __m128i b3 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + 3 * elems + e));
    const __m128i lo01 = _mm_unpacklo_epi8(b0, b1), hi01 = _mm_unpackhi_epi8(b0, b1);
    const __m128i lo23 = _mm_unpacklo_epi8(b2, b3), hi23 = _mm_unpackhi_epi8(b2, b3);
    auto* o = reinterpret_cast<__m128i*>(out + e * 4);
    _mm_storeu_si128(o + 0, _mm_unpacklo_epi16(lo01, lo23));
    _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(lo01, lo23));
    _mm_storeu_si128(o + 2, _mm_unpacklo_epi16(hi01, hi23));
    _mm_storeu_si128(o + 3, _mm_unpackhi_epi16(hi01, hi23));
  }
  return e;
}

// 16 elements of 8 bytes at a time.
std::size_t unshuffle8(const std::byte* in, std::byte* out, std::size_t elems) noexcept {
  std::size_t e = 0;
  for (; e + 16 <= elems; e += 16) {
    __m128i b[8];
    for (int k = 0; k < 8; ++k) b[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + k * elems + e));
    // Bytes 0-1, 2-3, 4-5, 6-7 paired, then 16-bit pairs into 32-bit quads, then quads into 64-bit elements.
    __m128i p[8], q[8];
    for (int k = 0; k < 4; ++k) {
      p[2 * k] = _mm_unpacklo_epi8(b[2 * k], b[2 * k + 1]);
      p[2 * k + 1] = _mm_unpackhi_epi8(b[2 * k], b[2 * k + 1]);
    }
    // p[0],p[1]: bytes 0/1 of elements 0-7, 8-15; p[2],p[3]: bytes 2/3; p[4],p[5]: 4/5; p[6],p[7]: 6/7.
    for (int h = 0; h < 2; ++h) {
      q[4 * h + 0] = _mm_unpacklo_epi16(p[h], p[2 + h]);      // bytes 0-3 of elements 8h+0..3
      q[4 * h + 1] = _mm_unpackhi_epi16(p[h], p[2 + h]);      // 8h+4..7
      q[4 * h + 2] = _mm_unpacklo_epi16(p[4 + h], p[6 + h]);  // bytes 4-7 of 8h+0..3
      q[4 * h + 3] = _mm_unpackhi_epi16(p[4 + h], p[6 + h]);  // 8h+4..7
    }
    auto* o = reinterpret_cast<__m128i*>(out + e * 8);
    for (int h = 0; h < 2; ++h) {
      for (int g = 0; g < 2; ++g) {
        const __m128i lo = q[4 * h + g], hi = q[4 * h + 2 + g];
        // Elements 8h + 4g .. +3: two per store.
        _mm_storeu_si128(o + 4 * h + 2 * g + 0, _mm_unpacklo_epi32(lo, hi));
        _mm_storeu_si128(o + 4 * h + 2 * g + 1, _mm_unpackhi_epi32(lo, hi));
      }
    }
  }
  return e;
}
#endif

}  // namespace

void unshuffle(const std::byte* in, std::byte* out, std::size_t n, std::size_t width) noexcept {
  const std::size_t elems = n / width;
  std::size_t done = 0;
#if defined(__SSE2__)
  if (width == 4) done = unshuffle4(in, out, elems);
  if (width == 8) done = unshuffle8(in, out, elems);
#endif
  if (done > 0) {
    // The tail, element by element.
    for (std::size_t e = done; e < elems; ++e) {
      for (std::size_t b = 0; b < width; ++b) out[e * width + b] = in[b * elems + e];
    }
    if (n > elems * width) std::memcpy(out + elems * width, in + elems * width, n - elems * width);
    return;
  }
  for (std::size_t b = 0; b < width; ++b) {
    const std::byte* i = in + b * elems;
    for (std::size_t e = 0; e < elems; ++e) out[e * width + b] = i[e];
  }
  if (n > elems * width) std::memcpy(out + elems * width, in + elems * width, n - elems * width);
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
// CRC-32C in hardware over three independent streams at a time (Mark Adler's method): one crc32 instruction
// has a latency of three cycles and a throughput of one, so a single stream runs at a third of the speed.
// The streams' CRCs are joined by shifting a CRC over a block of zeros (linear in GF(2)), through tables for
// the two fixed block lengths. Journal records checksum every chunk written (47 MB each in the anomaly job:
// 8.5% of its CPU time with one stream).
constexpr std::size_t kCrcLong = 8192, kCrcShort = 256;

std::uint32_t gf2_times(const std::uint32_t* mat, std::uint32_t vec) noexcept {
  std::uint32_t sum = 0;
  for (; vec != 0; vec >>= 1, ++mat) {
    if (vec & 1) sum ^= *mat;
  }
  return sum;
}

void gf2_square(std::uint32_t* square, const std::uint32_t* mat) noexcept {
  for (int n = 0; n < 32; ++n) square[n] = gf2_times(mat, mat[n]);
}

// Tables applying `len` (a power of two) zero bytes to a CRC register, a byte of the register per table.
using ZerosTables = std::array<std::array<std::uint32_t, 256>, 4>;
ZerosTables crc32c_zeros(std::size_t len) noexcept {
  std::uint32_t odd[32], even[32];
  odd[0] = kCrc32cPolynomial;  // the operator for one zero bit
  for (int n = 1; n < 32; ++n) odd[n] = std::uint32_t{1} << (n - 1);
  gf2_square(even, odd);  // two zero bits
  gf2_square(odd, even);  // four
  const std::uint32_t* op = odd;
  for (;;) {  // one zero byte, two, four, ... until len is used up
    gf2_square(even, odd);
    op = even;
    if ((len >>= 1) == 0) break;
    gf2_square(odd, even);
    op = odd;
    if ((len >>= 1) == 0) break;
  }
  ZerosTables t{};
  for (std::uint32_t n = 0; n < 256; ++n) {
    for (int k = 0; k < 4; ++k) t[static_cast<std::size_t>(k)][n] = gf2_times(op, n << (8 * k));
  }
  return t;
}

std::uint32_t crc32c_shift(const ZerosTables& z, std::uint64_t crc) noexcept {
  return z[0][crc & 0xff] ^ z[1][(crc >> 8) & 0xff] ^ z[2][(crc >> 16) & 0xff] ^ z[3][(crc >> 24) & 0xff];
}

__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(std::uint32_t crc, const unsigned char* p,
                                                             std::size_t n) noexcept {
  static const ZerosTables long_zeros = crc32c_zeros(kCrcLong), short_zeros = crc32c_zeros(kCrcShort);
  auto word = [](const unsigned char* q) {
    std::uint64_t v;
    std::memcpy(&v, q, 8);
    return v;
  };
  std::uint64_t c0 = crc;
  for (; n > 0 && reinterpret_cast<std::uintptr_t>(p) % 8 != 0; --n, ++p) {
    c0 = __builtin_ia32_crc32qi(static_cast<std::uint32_t>(c0), *p);
  }
  for (const std::size_t block : {kCrcLong, kCrcShort}) {
    const ZerosTables& zeros = block == kCrcLong ? long_zeros : short_zeros;
    for (; n >= 3 * block; n -= 3 * block, p += 3 * block) {
      std::uint64_t c1 = 0, c2 = 0;
      for (std::size_t i = 0; i < block; i += 8) {
        c0 = __builtin_ia32_crc32di(c0, word(p + i));
        c1 = __builtin_ia32_crc32di(c1, word(p + block + i));
        c2 = __builtin_ia32_crc32di(c2, word(p + 2 * block + i));
      }
      c0 = crc32c_shift(zeros, c0) ^ c1;
      c0 = crc32c_shift(zeros, c0) ^ c2;
    }
  }
  for (; n >= 8; n -= 8, p += 8) c0 = __builtin_ia32_crc32di(c0, word(p));
  crc = static_cast<std::uint32_t>(c0);
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
