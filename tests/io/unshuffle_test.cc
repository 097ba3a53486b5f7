// HDF5's shuffle filter stores byte k of every element together (plane k); unshuffle puts them back. The
// vectorised paths (4- and 8-byte elements, 16 at a time) must match the definition for every length,
// including the tail of elements past the last whole block and the bytes past the last whole element.
#include <gtest/gtest.h>

#include <cstddef>
#include <vector>

#include "io_util.h"

namespace {

std::vector<std::byte> shuffled(std::size_t n, std::size_t width) {
  // Element e's byte b is (e * 31 + b * 7 + 1) mod 256, stored in plane order as HDF5 writes it.
  std::vector<std::byte> out(n);
  const std::size_t elems = n / width;
  for (std::size_t e = 0; e < elems; ++e) {
    for (std::size_t b = 0; b < width; ++b) out[b * elems + e] = std::byte((e * 31 + b * 7 + 1) & 0xff);
  }
  for (std::size_t i = elems * width; i < n; ++i) out[i] = std::byte(i & 0xff);  // left as they are
  return out;
}

TEST(Unshuffle, MatchesTheFilterDefinitionForEveryWidthAndLength) {
  for (std::size_t width : {1, 2, 3, 4, 5, 8, 16}) {
    for (std::size_t elems : {0, 1, 15, 16, 17, 31, 32, 33, 100, 1000, 4099}) {
      for (std::size_t extra : {std::size_t{0}, width > 1 ? width - 1 : 0}) {
        const std::size_t n = elems * width + extra;
        const std::vector<std::byte> in = shuffled(n, width);
        std::vector<std::byte> out(n, std::byte{0xAA});
        tessera::io::detail::unshuffle(in.data(), out.data(), n, width);
        for (std::size_t e = 0; e < elems; ++e) {
          for (std::size_t b = 0; b < width; ++b) {
            ASSERT_EQ(out[e * width + b], std::byte((e * 31 + b * 7 + 1) & 0xff))
                << "width " << width << ", " << elems << " elements, element " << e << " byte " << b;
          }
        }
        for (std::size_t i = elems * width; i < n; ++i)
          ASSERT_EQ(out[i], std::byte(i & 0xff)) << "trailing byte";
      }
    }
  }
}

}  // namespace
