// Arrays from Eigen matrices (include this only where Eigen is available).
#pragma once

#include <Eigen/Core>

#include "tessera/arrays/array.h"

namespace tessera {

// A copy of `m` (any Eigen dense expression, any storage order) as a 2-d array cut into `chunks`.
template <class Derived>
Array from_eigen(const Eigen::DenseBase<Derived>& m, const Shape& chunks) {
  using T = typename Derived::Scalar;
  using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Chunk c(dtype_of<T>(), {static_cast<std::int64_t>(m.rows()), static_cast<std::int64_t>(m.cols())});
  Eigen::Map<RowMajor>(c.data<T>().data(), m.rows(), m.cols()) = m;
  return from_chunk(std::move(c), chunks);
}

}  // namespace tessera
