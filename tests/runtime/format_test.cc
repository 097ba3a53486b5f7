#include "tessera/runtime/format.h"

#include <cstdlib>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tessera/runtime/error.h"
#include "tessera/runtime/runtime.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

std::string error_of(std::string_view text, std::string_view what = "size") {
  try {
    parse_size(text, what);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  return "no error";
}

TEST(Sizes, OneSyntaxDecimalAndBinaryUnits) {
  EXPECT_EQ(parse_size("4096"), 4096u) << "a bare number is bytes";
  EXPECT_EQ(parse_size("1000"), 1000u);
  EXPECT_EQ(parse_size("8GB"), 8'000'000'000u);
  EXPECT_EQ(parse_size("8G"), 8'000'000'000u);
  EXPECT_EQ(parse_size("8 gb"), 8'000'000'000u);
  EXPECT_EQ(parse_size("512 MiB"), 512u << 20);
  EXPECT_EQ(parse_size("1.5G"), 1'500'000'000u);
  EXPECT_EQ(parse_size("2e9"), 2'000'000'000u);
  EXPECT_EQ(parse_size("2TiB"), std::uint64_t{2} << 40);
  EXPECT_EQ(parse_size("1PiB"), std::uint64_t{1} << 50);
  EXPECT_EQ(parse_size("3kB"), 3000u);
  EXPECT_EQ(parse_size("3KiB"), 3072u);
  EXPECT_EQ(parse_size("0"), 0u);
}

TEST(Sizes, ErrorsNameWhatAndTheText) {
  EXPECT_THAT(error_of("lots", "--memory-limit"), HasSubstr("--memory-limit \"lots\" is not a size"));
  EXPECT_THAT(error_of("8 parsecs"), HasSubstr("\"8 parsecs\" has an unknown unit"));
  EXPECT_THAT(error_of("-1GB"), HasSubstr("\"-1GB\" is out of range"));
  EXPECT_THAT(error_of("1e30 TB"), HasSubstr("is out of range"));
  EXPECT_THAT(error_of(""), HasSubstr("is not a size"));
}

TEST(Sizes, TheEnvironmentReadsTheSameSyntax) {
  ::setenv("TESSERA_MEMORY_LIMIT", "1000", 1);  // bytes, as everywhere (not Slurm's megabytes)
  EXPECT_EQ(RuntimeOptions::from_environment().memory.limit, 1000u);
  ::unsetenv("TESSERA_MEMORY_LIMIT");
}

}  // namespace
}  // namespace tessera
