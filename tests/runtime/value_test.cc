#include "tessera/runtime/value.h"

#include <cstring>

#include "tessera/runtime/buffer.h"

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

namespace tessera {
namespace {

TEST(Buffer, AllocatesCopiesAndMoves) {
  Buffer a = Buffer::allocate(1000);
  ASSERT_EQ(a.size(), 1000u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data()) % 64, 0u);
  for (std::size_t i = 0; i < a.size(); ++i) a.data()[i] = static_cast<std::byte>(i);
  Buffer b = a;  // deep copy
  EXPECT_NE(a.data(), b.data());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), 1000), 0);
  Buffer c = std::move(a);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(c.size(), 1000u);
  EXPECT_EQ(c.as<std::uint8_t>()[999], static_cast<std::uint8_t>(999 % 256));
  EXPECT_TRUE(Buffer::allocate(0).empty());
}

TEST(Buffer, LargeBlocksAreRecycled) {
  set_buffer_cache_limit(std::size_t{64} << 20);
  const std::byte* first = nullptr;
  {
    Buffer big = Buffer::allocate(3 << 20);
    first = big.data();
  }
  EXPECT_EQ(buffer_cache_bytes(), std::size_t{3} << 20);  // the 3 MiB size class (eighths of 2-4 MiB)
  Buffer again = Buffer::allocate((3 << 20) - 5);         // same size class: the same block comes back
  EXPECT_EQ(again.data(), first);
  Buffer other = Buffer::allocate((3 << 20) + 5);  // the next class up (3.25 MiB): another block
  EXPECT_NE(other.data(), first);
  EXPECT_EQ(other.size(), (std::size_t{3} << 20) + 5);
  set_buffer_cache_limit(0);
  EXPECT_EQ(buffer_cache_bytes(), 0u);
  set_buffer_cache_limit(std::size_t{1} << 30);
}

TEST(Value, InPlaceReceiveBuildsTheFinalObject) {
  Buffer src = Buffer::allocate(4096);
  for (std::size_t i = 0; i < src.size(); ++i) src.data()[i] = static_cast<std::byte>(i * 7);
  Value v = Value::of(std::move(src));
  const auto& ops = *v.ops();
  ASSERT_NE(ops.receive, nullptr);
  std::byte* destination = nullptr;
  auto object = ops.receive(4096, &destination);
  ops.encode(v.data(), destination);  // what an MPI_Get would write
  Value received = Value::adopt(object, ops);
  EXPECT_EQ(std::memcmp(received.get<Buffer>().data(), v.get<Buffer>().data(), 4096), 0);
  std::vector<double> d{1.5, 2.5};
  Value dv = Value::of(d);
  auto obj2 = dv.ops()->receive(16, &destination);
  dv.ops()->encode(dv.data(), destination);
  EXPECT_EQ(Value::adopt(obj2, *dv.ops()).get<std::vector<double>>(), d);
}

}  // namespace
}  // namespace tessera
