// Datasets made in the program: range(n) and from_vector(rows).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include <manta/data/dataset.h>
#include <manta/init.h>

namespace manta::data {
namespace detail {

/// How many parts `bytes` of data make at the context's block size: at least one per rank (so
/// every rank works) unless there are fewer rows than that.
inline std::uint64_t default_parts(std::uint64_t rows, std::uint64_t bytes) {
  if (rows == 0) return 0;
  const std::uint64_t target = std::max<std::uint64_t>(1, DataContext::current().block_bytes());
  const std::uint64_t by_size = (bytes + target - 1) / target;
  const auto ranks = static_cast<std::uint64_t>(std::max(1, manta::world_size()));
  return std::min(rows, std::max(by_size, ranks));
}

template <class T>
std::vector<std::byte> pod_bytes(const T& value) {
  static_assert(std::is_trivially_copyable_v<T>);
  std::vector<std::byte> out(sizeof(T));
  std::memcpy(out.data(), &value, sizeof(T));
  return out;
}
template <class T>
T pod_from(const std::vector<std::byte>& bytes) {
  T value{};
  if (bytes.size() != sizeof(T)) throw DataError("damaged source arguments in a dataset plan");
  std::memcpy(&value, bytes.data(), sizeof(T));
  return value;
}

struct RangeArgs {
  std::int64_t first = 0;
  std::int64_t count = 0;
};

struct RangeSource {
  static std::string name() { return "range"; }
  static Rows run(const std::vector<std::byte>& args, std::uint64_t limit) {
    const auto a = pod_from<RangeArgs>(args);
    std::int64_t n = a.count;
    if (limit != 0) n = std::min<std::int64_t>(n, static_cast<std::int64_t>(limit));
    std::vector<std::int64_t> rows(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) rows[static_cast<std::size_t>(i)] = a.first + i;
    return Rows::of(std::move(rows));
  }
};

}  // namespace detail

/// The integers 0 .. n-1, in `blocks` blocks (0: by the context's block size, at least one per
/// rank).
inline Dataset<std::int64_t> range(std::int64_t n, std::uint64_t blocks = 0) {
  if (n < 0) throw DataError("range: n must not be negative, got " + std::to_string(n));
  const auto rows = static_cast<std::uint64_t>(n);
  if (blocks == 0) blocks = detail::default_parts(rows, rows * sizeof(std::int64_t));
  blocks = std::min(blocks, rows);
  auto op = std::make_shared<detail::LogicalOp>();
  op->kind = detail::OpKind::read;
  op->label = "Read[range " + std::to_string(n) + "]";
  op->row_type = detail::row_type<std::int64_t>();
  op->source.kernel = detail::source_kernel<detail::RangeSource>();
  for (std::uint64_t b = 0; b < blocks; ++b) {
    const std::uint64_t first = rows * b / blocks;
    const std::uint64_t last = rows * (b + 1) / blocks;
    detail::ReadPart part;
    part.args = detail::pod_bytes(detail::RangeArgs{static_cast<std::int64_t>(first),
                                                    static_cast<std::int64_t>(last - first)});
    part.rows = static_cast<std::int64_t>(last - first);
    part.bytes = (last - first) * sizeof(std::int64_t);
    op->source.parts.push_back(std::move(part));
  }
  return Dataset<std::int64_t>(op);
}

/// The rows of a vector, stored now (on this rank) in `blocks` blocks (0: by the context's block
/// size, at least one per rank).
template <class T>
Dataset<T> from_vector(const std::vector<T>& rows, std::uint64_t blocks = 0) {
  auto op = std::make_shared<detail::LogicalOp>();
  op->kind = detail::OpKind::blocks;
  op->row_type = detail::row_type<T>();
  const std::uint64_t n = rows.size();
  if (blocks == 0) {
    std::uint64_t bytes = n * sizeof(T);
    if constexpr (!is_plain_row<T>) {
      if (n > 0)
        bytes =
            detail::encode_rows<T>(std::span<const T>(rows.data(), std::min<std::size_t>(n, 64)))
                .size() *
            n / std::min<std::uint64_t>(n, 64);
    }
    blocks = detail::default_parts(n, bytes);
  }
  blocks = std::min(blocks, n);
  for (std::uint64_t b = 0; b < blocks; ++b) {
    const std::size_t first = n * b / blocks;
    const std::size_t last = n * (b + 1) / blocks;
    BlockMeta meta;
    BlockBytes bytes =
        detail::encode_rows<T>(std::span<const T>(rows.data() + first, last - first));
    meta.rows = last - first;
    meta.bytes = bytes.size();
    meta.rank = manta::rank();
    meta.block = manta::put(std::move(bytes));
    op->blocks.push_back(std::move(meta));
  }
  op->label = "FromVector(" + std::to_string(n) + " rows, " + std::to_string(blocks) + " blocks)";
  return Dataset<T>(op);
}

}  // namespace manta::data
