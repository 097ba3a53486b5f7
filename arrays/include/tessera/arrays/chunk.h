// Chunk: one dense, row-major block of an array, in memory. ChunkGrid: how an array's shape is cut into
// chunks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "tessera/arrays/dtype.h"
#include "tessera/runtime/buffer.h"
#include "tessera/runtime/error.h"
#include "tessera/runtime/value.h"

namespace tessera {

using Shape = std::vector<std::int64_t>;

std::int64_t num_elements(const Shape& shape) noexcept;
// "(730, 360, 720)"; a 1-d shape prints as "(5,)" like NumPy.
std::string format_shape(const Shape& shape);
// Element strides of a row-major array of this shape.
Shape strides_of(const Shape& shape);

// A dense N-d array in memory (C order). Copying shares nothing: it copies the bytes (chunks normally travel
// inside Values, which share them).
class Chunk {
 public:
  Chunk() = default;
  // Uninitialised elements. Throws Error(kInvalidArgument) for a negative extent.
  Chunk(DType dtype, Shape shape);
  static Chunk zeros(DType dtype, Shape shape);
  // The elements of `values` (row-major) as a chunk of `shape`; the counts must agree.
  template <class T>
  static Chunk from(Shape shape, std::span<const T> values);
  template <class T>
  static Chunk from(Shape shape, const std::vector<T>& values) {
    return from(std::move(shape), std::span<const T>(values));
  }
  template <class T>
  static Chunk scalar(T value) {
    return from<T>({}, std::span<const T>(&value, 1));
  }

  DType dtype() const noexcept { return dtype_; }
  const Shape& shape() const noexcept { return shape_; }
  int ndim() const noexcept { return static_cast<int>(shape_.size()); }
  std::int64_t size() const noexcept { return num_elements(shape_); }
  std::size_t nbytes() const noexcept { return static_cast<std::size_t>(size()) * size_of(dtype_); }
  std::byte* bytes() noexcept { return storage_.data() + offset_; }
  const std::byte* bytes() const noexcept { return storage_.data() + offset_; }

  // The elements as T; throws Error(kInvalidArgument) when T is not the chunk's dtype.
  template <class T>
  std::span<T> data() {
    check_type(dtype_of<T>());
    return {reinterpret_cast<T*>(bytes()), static_cast<std::size_t>(size())};
  }
  template <class T>
  std::span<const T> data() const {
    check_type(dtype_of<T>());
    return {reinterpret_cast<const T*>(bytes()), static_cast<std::size_t>(size())};
  }
  // Element at a multi-index, converted to double (for tests and small outputs).
  double at(std::initializer_list<std::int64_t> index) const;
  double flat(std::int64_t i) const;
  // A copy converted to another dtype (C casts, as numpy's astype).
  Chunk astype(DType to) const;

  // Encoding for transfers between ranks: a 64-byte header (dtype, shape) and the elements.
  std::size_t encoded_size() const noexcept;
  void encode(std::byte* out) const;
  static Chunk decode(const std::byte* in, std::size_t n);
  // In-place receive: storage for n encoded bytes; finish_receive() reads the header once they arrived.
  static Chunk for_receive(std::size_t n);
  std::byte* receive_area() noexcept { return storage_.data(); }
  void finish_receive();

 private:
  void check_type(DType wanted) const;

  DType dtype_ = DType::kFloat64;
  Shape shape_;
  Buffer storage_;
  std::size_t offset_ = 0;  // where the elements start in storage_ (after a header for received chunks)
};

template <class T>
Chunk Chunk::from(Shape shape, std::span<const T> values) {
  Chunk c(dtype_of<T>(), std::move(shape));
  if (static_cast<std::int64_t>(values.size()) != c.size()) {
    throw_error(ErrorCode::kInvalidArgument, values.size(), " values do not fill a chunk of shape ",
                format_shape(c.shape_), " (", c.size(), " elements)");
  }
  if (!values.empty()) std::memcpy(c.bytes(), values.data(), values.size() * sizeof(T));
  return c;
}

template <>
struct Codec<Chunk> {
  static constexpr bool kDefined = true;
  static constexpr bool kInPlace = true;
  static std::size_t size(const Chunk& c) { return c.encoded_size(); }
  static void encode(const Chunk& c, std::byte* out) { c.encode(out); }
  static Chunk decode(const std::byte* in, std::size_t n) { return Chunk::decode(in, n); }
  static Chunk make_for_receive(std::size_t n) { return Chunk::for_receive(n); }
  static std::byte* receive_bytes(Chunk& c) { return c.receive_area(); }
  static void finish_receive(Chunk& c) { c.finish_receive(); }
};

// How an array of `shape` is cut into chunks: per axis, the lengths of its chunks (regular or not).
class ChunkGrid {
 public:
  ChunkGrid() = default;
  // Throws Error(kInvalidArgument) naming the axis whose chunks do not add up to its length, or a chunk that
  // is not positive (empty axes have one empty chunk).
  ChunkGrid(Shape shape, std::vector<std::vector<std::int64_t>> chunks);
  // Chunks of `chunk_shape` (the last one along an axis may be shorter). A chunk extent <= 0 or -1 means the
  // whole axis.
  static ChunkGrid regular(const Shape& shape, const Shape& chunk_shape);

  const Shape& shape() const noexcept { return shape_; }
  int ndim() const noexcept { return static_cast<int>(shape_.size()); }
  const std::vector<std::int64_t>& chunks(int axis) const { return chunks_[static_cast<std::size_t>(axis)]; }
  std::int64_t num_chunks(int axis) const { return static_cast<std::int64_t>(chunks(axis).size()); }
  // Chunks in the whole grid.
  std::int64_t total_chunks() const noexcept;
  // The chunk counts per axis, as a shape.
  Shape grid_shape() const;
  // Where chunk i along `axis` starts.
  std::int64_t offset(int axis, std::int64_t i) const {
    return offsets_[static_cast<std::size_t>(axis)][static_cast<std::size_t>(i)];
  }
  Shape chunk_shape(std::span<const std::int64_t> chunk_index) const;
  // The chunk along `axis` holding element `position`.
  std::int64_t chunk_of(int axis, std::int64_t position) const;
  // The largest chunk's shape; "(73, 90, 180)".
  Shape max_chunk_shape() const;
  bool regular() const noexcept;
  // NumPy-like description: the chunk shape when regular, else every axis's chunk lengths.
  std::string describe() const;

  friend bool operator==(const ChunkGrid& a, const ChunkGrid& b) {
    return a.chunks_ == b.chunks_ && a.shape_ == b.shape_;
  }

 private:
  Shape shape_;
  std::vector<std::vector<std::int64_t>> chunks_;
  std::vector<std::vector<std::int64_t>> offsets_;
};

// Iterates over the multi-indices of a grid of `counts` in row-major order.
bool next_index(std::vector<std::int64_t>& index, const Shape& counts) noexcept;

}  // namespace tessera
