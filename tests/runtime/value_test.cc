#include "tessera/runtime/value.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tessera/runtime/error.h"

namespace tessera {
namespace {

template <class T>
T round_trip(const T& v) {
  Value value = Value::of(v);
  const auto& ops = *value.ops();
  std::vector<std::byte> bytes(ops.encoded_size(value.data()));
  ops.encode(value.data(), bytes.data());
  return Value::decode(ops, bytes.data(), bytes.size()).get<T>();
}

TEST(Value, CodecsRoundTrip) {
  EXPECT_EQ(round_trip(42), 42);
  EXPECT_EQ(round_trip(2.5), 2.5);
  EXPECT_EQ(round_trip(std::string("chunk (3, 7)")), "chunk (3, 7)");
  EXPECT_EQ(round_trip(std::vector<float>{1.f, 2.f, 3.f}), (std::vector<float>{1.f, 2.f, 3.f}));
  EXPECT_EQ(round_trip(std::vector<double>{}), std::vector<double>{});
}

TEST(Value, TypesWithoutCodecSayHowToFix) {
  struct Opaque {
    std::vector<std::string> names;
  };
  Value v = Value::of(Opaque{{"a"}});
  EXPECT_EQ(v.ops()->encode, nullptr);
  EXPECT_THAT([&] { Value::decode(*v.ops(), nullptr, 0); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("specialise tessera::Codec")));
}

TEST(Value, SharesInsteadOfCopying) {
  Value a = Value::of(std::vector<int>(1000, 1));
  Value b = a;
  EXPECT_EQ(a.data(), b.data());
  EXPECT_TRUE(b.holds<std::vector<int>>());
  EXPECT_FALSE(b.holds<int>());
  b.reset();
  EXPECT_FALSE(b.has_value());
  EXPECT_TRUE(a.has_value());
}

}  // namespace
}  // namespace tessera
