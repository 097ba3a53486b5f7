#include "tessera/arrays/chunk.h"

#include <algorithm>
#include <cstring>
#include <numeric>

namespace tessera {

std::int64_t num_elements(const Shape& shape) noexcept {
  std::int64_t n = 1;
  for (std::int64_t e : shape) n *= e;
  return n;
}

std::string format_shape(const Shape& shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  if (shape.size() == 1) out += ",";
  return out + ")";
}

Shape strides_of(const Shape& shape) {
  Shape strides(shape.size(), 1);
  for (std::size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

Chunk::Chunk(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  for (std::size_t a = 0; a < shape_.size(); ++a) {
    if (shape_[a] < 0) {
      throw_error(ErrorCode::kInvalidArgument, "shape ", format_shape(shape_),
                  " has a negative extent on axis ", a);
    }
  }
  storage_ = Buffer::allocate(nbytes());
}

Chunk Chunk::zeros(DType dtype, Shape shape) {
  Chunk c(dtype, std::move(shape));
  if (c.nbytes() > 0) std::memset(c.bytes(), 0, c.nbytes());
  return c;
}

void Chunk::check_type(DType wanted) const {
  if (wanted != dtype_) {
    throw_error(ErrorCode::kInvalidArgument, "chunk holds ", name_of(dtype_), " elements, not ",
                name_of(wanted));
  }
}

double Chunk::flat(std::int64_t i) const {
  return visit_dtype(dtype_, [&](auto tag) -> double {
    using T = typename decltype(tag)::type;
    return static_cast<double>(reinterpret_cast<const T*>(bytes())[i]);
  });
}

double Chunk::at(std::initializer_list<std::int64_t> index) const {
  if (static_cast<int>(index.size()) != ndim()) {
    throw_error(ErrorCode::kInvalidArgument, "index with ", index.size(), " components for a ", ndim(),
                "-d chunk of shape ", format_shape(shape_));
  }
  std::int64_t flat_index = 0;
  std::size_t a = 0;
  for (std::int64_t i : index) {
    if (i < 0 || i >= shape_[a]) {
      throw_error(ErrorCode::kInvalidArgument, "index ", i, " is out of range for axis ", a, " of size ",
                  shape_[a]);
    }
    flat_index = flat_index * shape_[a] + i;
    ++a;
  }
  return flat(flat_index);
}

Chunk Chunk::astype(DType to) const {
  Chunk out(to, shape_);
  const std::int64_t n = size();
  visit_dtype(dtype_, [&](auto from_tag) {
    using F = typename decltype(from_tag)::type;
    const F* src = reinterpret_cast<const F*>(bytes());
    visit_dtype(to, [&](auto to_tag) {
      using T = typename decltype(to_tag)::type;
      T* dst = reinterpret_cast<T*>(out.bytes());
      for (std::int64_t i = 0; i < n; ++i) dst[i] = convert_value<T>(src[i]);
    });
  });
  return out;
}

namespace {
constexpr std::uint32_t kMagic = 0x6b6e6863;  // "chnk"
constexpr std::size_t kHeaderAlign = 64;

std::size_t header_size(std::size_t ndim) {
  const std::size_t raw = 8 + 8 * ndim;  // magic, dtype, ndim, padding; then the extents
  return (raw + kHeaderAlign - 1) / kHeaderAlign * kHeaderAlign;
}
}  // namespace

std::size_t Chunk::encoded_size() const noexcept {
  return header_size(shape_.size()) + nbytes();
}

void Chunk::encode(std::byte* out) const {
  const std::size_t h = header_size(shape_.size());
  std::memset(out, 0, h);
  std::memcpy(out, &kMagic, 4);
  out[4] = static_cast<std::byte>(dtype_);
  out[5] = static_cast<std::byte>(shape_.size());
  if (!shape_.empty()) std::memcpy(out + 8, shape_.data(), 8 * shape_.size());  // 0-d: no shape bytes
  if (nbytes() > 0) std::memcpy(out + h, bytes(), nbytes());
}

Chunk Chunk::for_receive(std::size_t n) {
  Chunk c;
  c.storage_ = Buffer::allocate_for_receive(n);
  return c;
}

void Chunk::finish_receive() {
  const std::byte* in = storage_.data();
  std::uint32_t magic = 0;
  if (storage_.size() < 8 || (std::memcpy(&magic, in, 4), magic != kMagic)) {
    throw_error(ErrorCode::kCorrupt, "received bytes are not an encoded chunk");
  }
  const auto ndim = static_cast<std::size_t>(in[5]);
  const auto dtype = static_cast<std::uint8_t>(in[4]);
  if (dtype > static_cast<std::uint8_t>(DType::kFloat64) || ndim > 32 ||
      storage_.size() < header_size(ndim)) {
    throw_error(ErrorCode::kCorrupt, "encoded chunk header is damaged (dtype ", int(dtype), ", ", ndim,
                " dimensions, ", storage_.size(), " bytes)");
  }
  dtype_ = static_cast<DType>(dtype);
  shape_.assign(ndim, 0);
  if (ndim > 0) std::memcpy(shape_.data(), in + 8, 8 * ndim);
  std::uint64_t elements = 1;
  for (std::int64_t e : shape_) {
    if (e < 0 || __builtin_mul_overflow(elements, static_cast<std::uint64_t>(e), &elements) ||
        elements > (std::uint64_t{1} << 56)) {
      throw_error(ErrorCode::kCorrupt, "encoded chunk has an impossible shape ", format_shape(shape_));
    }
  }
  offset_ = header_size(ndim);
  if (offset_ + nbytes() != storage_.size()) {
    throw_error(ErrorCode::kCorrupt, "encoded chunk of shape ", format_shape(shape_), " has ",
                storage_.size(), " bytes, expected ", offset_ + nbytes());
  }
}

Chunk Chunk::decode(const std::byte* in, std::size_t n) {
  Chunk c = for_receive(n);
  if (n > 0) std::memcpy(c.storage_.data(), in, n);
  c.finish_receive();
  return c;
}

ChunkGrid::ChunkGrid(Shape shape, std::vector<std::vector<std::int64_t>> chunks)
    : shape_(std::move(shape)), chunks_(std::move(chunks)) {
  if (chunks_.size() != shape_.size()) {
    throw_error(ErrorCode::kInvalidArgument, "chunks given for ", chunks_.size(), " axes, but the shape ",
                format_shape(shape_), " has ", shape_.size());
  }
  offsets_.resize(shape_.size());
  for (std::size_t a = 0; a < shape_.size(); ++a) {
    if (shape_[a] < 0) {
      throw_error(ErrorCode::kInvalidArgument, "shape ", format_shape(shape_),
                  " has a negative extent on axis ", a);
    }
    auto& c = chunks_[a];
    if (shape_[a] == 0 && c.empty()) c.push_back(0);
    std::int64_t total = 0;
    for (std::int64_t len : c) {
      if (len <= 0 && shape_[a] > 0) {
        throw_error(ErrorCode::kInvalidArgument, "chunk length ", len, " on axis ", a,
                    ": chunks must be positive");
      }
      offsets_[a].push_back(total);
      total += len;
    }
    if (total != shape_[a]) {
      throw_error(ErrorCode::kInvalidArgument, "chunks along axis ", a, " add up to ", total,
                  ", but the axis has length ", shape_[a]);
    }
  }
}

ChunkGrid ChunkGrid::regular(const Shape& shape, const Shape& chunk_shape) {
  if (chunk_shape.size() != shape.size()) {
    throw_error(ErrorCode::kInvalidArgument, "chunk shape ", format_shape(chunk_shape), " has ",
                chunk_shape.size(), " axes, but the array shape ", format_shape(shape), " has ",
                shape.size());
  }
  std::vector<std::vector<std::int64_t>> chunks(shape.size());
  for (std::size_t a = 0; a < shape.size(); ++a) {
    const std::int64_t step = chunk_shape[a] <= 0 ? std::max<std::int64_t>(shape[a], 1) : chunk_shape[a];
    for (std::int64_t pos = 0; pos < shape[a]; pos += step)
      chunks[a].push_back(std::min(step, shape[a] - pos));
  }
  return ChunkGrid(shape, std::move(chunks));
}

std::int64_t ChunkGrid::total_chunks() const noexcept {
  std::int64_t n = 1;
  for (const auto& c : chunks_) n *= static_cast<std::int64_t>(c.size());
  return n;
}

Shape ChunkGrid::grid_shape() const {
  Shape s;
  for (const auto& c : chunks_) s.push_back(static_cast<std::int64_t>(c.size()));
  return s;
}

Shape ChunkGrid::chunk_shape(std::span<const std::int64_t> chunk_index) const {
  Shape s(chunk_index.size());
  for (std::size_t a = 0; a < chunk_index.size(); ++a)
    s[a] = chunks_[a][static_cast<std::size_t>(chunk_index[a])];
  return s;
}

std::int64_t ChunkGrid::chunk_of(int axis, std::int64_t position) const {
  const auto& off = offsets_[static_cast<std::size_t>(axis)];
  return static_cast<std::int64_t>(std::upper_bound(off.begin(), off.end(), position) - off.begin()) - 1;
}

Shape ChunkGrid::max_chunk_shape() const {
  Shape s;
  for (const auto& c : chunks_) s.push_back(c.empty() ? 0 : *std::max_element(c.begin(), c.end()));
  return s;
}

bool ChunkGrid::regular() const noexcept {
  for (const auto& c : chunks_) {
    for (std::size_t i = 0; i + 1 < c.size(); ++i) {
      if (c[i] != c[0]) return false;
    }
    if (c.size() > 1 && c.back() > c[0]) return false;
  }
  return true;
}

std::string ChunkGrid::describe() const {
  if (regular()) return format_shape(max_chunk_shape());
  std::string out = "(";
  for (std::size_t a = 0; a < chunks_.size(); ++a) {
    if (a > 0) out += ", ";
    out += format_shape(chunks_[a]);
  }
  return out + ")";
}

bool next_index(std::vector<std::int64_t>& index, const Shape& counts) noexcept {
  for (std::size_t a = index.size(); a-- > 0;) {
    if (++index[a] < counts[a]) return true;
    index[a] = 0;
  }
  return false;
}

}  // namespace tessera
