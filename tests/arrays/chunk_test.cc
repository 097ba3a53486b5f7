// Chunks and dtypes: shapes, grids, encoding, NumPy promotion, bad chunk arguments.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>

#include "array_test_util.h"
#include "numpy_oracle.h"
#include "tessera/arrays/array.h"
#include "tessera/arrays/eigen.h"
#include "tessera/runtime/error.h"

namespace tessera {
namespace {

using test::bit_equal;
using test::data;
using test::rt;
using ::testing::HasSubstr;
using testing::NumpyOracle;
using testing::Tolerance;

TEST(Chunk, ShapesGridsAndEncoding) {
  EXPECT_EQ(format_shape({730, 360, 720}), "(730, 360, 720)");
  EXPECT_EQ(format_shape({5}), "(5,)");
  ChunkGrid g = ChunkGrid::regular({10, 7}, {4, -1});
  EXPECT_EQ(g.chunks(0), (std::vector<std::int64_t>{4, 4, 2}));
  EXPECT_EQ(g.chunks(1), (std::vector<std::int64_t>{7}));
  EXPECT_EQ(g.offset(0, 2), 8);
  EXPECT_EQ(g.chunk_of(0, 7), 1);
  EXPECT_EQ(g.total_chunks(), 3);
  EXPECT_EQ(g.describe(), "(4, 7)");
  EXPECT_THAT(
      [] {
        ChunkGrid({10, 7}, {{4, 4, 1}, {7}});
      },
      ::testing::ThrowsMessage<Error>(
          HasSubstr("chunks along axis 0 add up to 9, but the axis has length 10")));
  EXPECT_THAT(
      [] {
        ChunkGrid({10}, {{10, 0}});
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("chunks must be positive")));

  Chunk c = data({3, 4}, DType::kFloat32, 1);
  Value v = Value::of(c);
  std::vector<std::byte> bytes(v.ops()->encoded_size(v.data()));
  v.ops()->encode(v.data(), bytes.data());
  std::byte* dest = nullptr;
  auto object = v.ops()->receive(bytes.size(), &dest);
  std::memcpy(dest, bytes.data(), bytes.size());
  v.ops()->finish_receive(const_cast<void*>(object.get()));
  EXPECT_TRUE(bit_equal(Value::adopt(object, *v.ops()).get<Chunk>(), c));
  EXPECT_TRUE(bit_equal(Value::decode(*v.ops(), bytes.data(), bytes.size()).get<Chunk>(), c));
  EXPECT_THAT([&] { c.data<double>(); },
              ::testing::ThrowsMessage<Error>(HasSubstr("holds float32 elements, not float64")));
}

TEST(DType, NumpyPromotion) {
  EXPECT_EQ(promote(DType::kInt32, DType::kFloat32), DType::kFloat64);
  EXPECT_EQ(promote(DType::kInt16, DType::kFloat32), DType::kFloat32);
  EXPECT_EQ(promote(DType::kUint8, DType::kInt16), DType::kInt16);
  EXPECT_EQ(promote(DType::kBool, DType::kUint8), DType::kUint8);
  EXPECT_EQ(promote(DType::kInt64, DType::kInt32), DType::kInt64);
  EXPECT_EQ(promote_with_scalar(DType::kFloat32, ScalarKind::kFloat), DType::kFloat32);
  EXPECT_EQ(promote_with_scalar(DType::kInt16, ScalarKind::kInt), DType::kInt16);
  EXPECT_EQ(promote_with_scalar(DType::kInt16, ScalarKind::kFloat), DType::kFloat64);
  EXPECT_EQ(parse_dtype("float32"), DType::kFloat32);
  EXPECT_THAT([] { parse_dtype("float16"); },
              ::testing::ThrowsMessage<Error>(HasSubstr("unknown dtype \"float16\"")));
}

TEST(DType, IntegerScalarsWidenLikeNumpyAndConversionsAreDefined) {
  NumpyOracle np;
  Chunk ud = data({4, 5}, DType::kUint8, 52), id = data({4, 5}, DType::kInt16, 53);
  Chunk nd = data({4, 5}, DType::kFloat32, 54, true);
  np.input("u", ud);
  np.input("i", id);
  np.input("n", nd);
  Array u = from_chunk(ud, {2, 5}), i = from_chunk(id, {2, 5}), n = from_chunk(nd, {2, 5});
  np.expect("uint8_lt_minus1", "u < -1", compute(rt(), u < -1));
  np.expect("uint8_eq_256", "u == 256", compute(rt(), u == 256));
  np.expect("int16_plus_big", "i + 100000", compute(rt(), i + 100000));
  np.expect("nan_to_int", "n.astype(np.int32)", compute(rt(), n.astype(DType::kInt32)));
  np.verify();
  EXPECT_NO_THROW(where(n > 0, n, std::numeric_limits<double>::quiet_NaN()));
}

TEST(ErrorPaths, ChunksRejectBadShapesIndexesAndBytes) {
  EXPECT_THAT(
      [] {
        Chunk(DType::kFloat64, {3, -1});
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("shape (3, -1) has a negative extent on axis 1")));
  EXPECT_THAT(
      [] {
        Chunk::from<int>({2, 2}, std::vector<int>{1, 2, 3});
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("3 values do not fill a chunk of shape (2, 2)")));
  Chunk c = Chunk::zeros(DType::kInt32, {2, 3});
  EXPECT_THAT([&] { c.at({1}); },
              ::testing::ThrowsMessage<Error>(HasSubstr("index with 1 components for a 2-d chunk")));
  EXPECT_THAT(
      [&] {
        c.at({1, 3});
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("index 3 is out of range for axis 1 of size 3")));
  std::vector<std::byte> bytes(c.encoded_size());
  c.encode(bytes.data());
  bytes[4] = std::byte{99};  // dtype byte
  EXPECT_THAT([&] { Chunk::decode(bytes.data(), bytes.size()); },
              ::testing::ThrowsMessage<Error>(HasSubstr("encoded chunk header is damaged")));
  EXPECT_THAT([&] { Chunk::decode(bytes.data(), 3); },
              ::testing::ThrowsMessage<Error>(HasSubstr("not an encoded chunk")));
  c.encode(bytes.data());
  EXPECT_THAT([&] { Chunk::decode(bytes.data(), bytes.size() - 4); },
              ::testing::ThrowsMessage<Error>(HasSubstr("expected")));
}

}  // namespace
}  // namespace tessera
