// Reading and writing datasets: HDF5 datasets (split into hyperslab blocks that the ranks read
// at once; written into one file by all ranks at once), CSV files and whole binary files over
// globs. The formats themselves are in manta/data/files.h.
#pragma once

#include <array>
#include <boost/serialization/vector.hpp>
#include <cstdint>
#include <filesystem>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <manta/data/dataset.h>
#include <manta/data/files.h>
#include <manta/data/sources.h>
#include <manta/task.h>

namespace manta::data {

using files::CsvOptions;
using files::CsvRow;

/// One row per file of read_binary_files.
struct BinaryFile {
  std::string path;
  std::vector<std::uint8_t> data;

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& path& data;
  }
  friend bool operator==(const BinaryFile&, const BinaryFile&) = default;
};

namespace detail {

template <class E>
constexpr files::Element element_of() {
  using files::Element;
  if constexpr (std::is_same_v<E, std::int8_t>)
    return Element::i8;
  else if constexpr (std::is_same_v<E, std::uint8_t>)
    return Element::u8;
  else if constexpr (std::is_same_v<E, std::int16_t>)
    return Element::i16;
  else if constexpr (std::is_same_v<E, std::uint16_t>)
    return Element::u16;
  else if constexpr (std::is_same_v<E, std::int32_t>)
    return Element::i32;
  else if constexpr (std::is_same_v<E, std::uint32_t>)
    return Element::u32;
  else if constexpr (std::is_same_v<E, std::int64_t>)
    return Element::i64;
  else if constexpr (std::is_same_v<E, std::uint64_t>)
    return Element::u64;
  else if constexpr (std::is_same_v<E, float>)
    return Element::f32;
  else {
    static_assert(std::is_same_v<E, double>,
                  "HDF5 rows are numbers (int8..int64, uint8..uint64, float, double) or "
                  "std::array of them");
    return Element::f64;
  }
}

/// How a row type maps onto an HDF5 dataset: a number is a 1-D element, std::array<E, K> a row
/// of a 2-D [N][K] dataset.
template <class T>
struct Hdf5Row {
  using Element = T;
  static constexpr std::uint64_t width = 1;
};
template <class E, std::size_t K>
struct Hdf5Row<std::array<E, K>> {
  using Element = E;
  static constexpr std::uint64_t width = K;
};

struct Hdf5Args {
  std::string file;
  std::string dataset;
  std::uint8_t element = 0;
  std::uint64_t width = 1;
  std::uint64_t rows = 0;
  std::uint64_t first = 0;
  std::uint64_t count = 0;

  [[nodiscard]] files::Hdf5Layout layout() const {
    return files::Hdf5Layout{file, dataset, static_cast<files::Element>(element), rows, width};
  }
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& file& dataset& element& width& rows& first& count;
  }
};

template <class A>
std::vector<std::byte> encode_args(const A& args) {
  Buffer out;
  Codec<A>::encode(args, out);
  return {out.data(), out.data() + out.size()};
}
template <class A>
A decode_args(const std::vector<std::byte>& bytes) {
  return Codec<A>::decode(bytes.data(), bytes.size());
}

template <class T>
struct Hdf5Source {
  static std::string name() { return "hdf5 " + manta::detail::type_name<T>(); }
  static Rows run(const std::vector<std::byte>& bytes, std::uint64_t limit) {
    const auto args = decode_args<Hdf5Args>(bytes);
    std::uint64_t n = args.count;
    if (limit != 0) n = std::min(n, limit);
    std::vector<T> rows(n);
    files::hdf5_read_rows(args.layout(), args.first, n, reinterpret_cast<std::byte*>(rows.data()));
    return Rows::of(std::move(rows));
  }
};

struct CsvArgs {
  std::string path;
  char delimiter = ',';
  bool header = true;
  std::uint64_t columns = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& path& delimiter& header& columns;
  }
};

struct CsvSource {
  static std::string name() { return "csv"; }
  static Rows run(const std::vector<std::byte>& bytes, std::uint64_t limit) {
    const auto args = decode_args<CsvArgs>(bytes);
    CsvOptions options;
    options.delimiter = args.delimiter;
    options.header = args.header;
    options.columns = args.columns;
    auto rows = files::csv_read_file(args.path, options);
    if (limit != 0 && rows.size() > limit) rows.resize(limit);
    return Rows::of(std::move(rows));
  }
};

struct BinarySource {
  static std::string name() { return "binary_files"; }
  static Rows run(const std::vector<std::byte>& bytes, std::uint64_t limit) {
    const auto paths = decode_args<std::vector<std::string>>(bytes);
    std::vector<BinaryFile> rows;
    for (const std::string& p : paths) {
      if (limit != 0 && rows.size() >= limit) break;
      const std::vector<std::byte> data = files::read_whole_file(p);
      BinaryFile f;
      f.path = p;
      f.data.resize(data.size());
      if (!data.empty()) std::memcpy(f.data.data(), data.data(), data.size());
      rows.push_back(std::move(f));
    }
    return Rows::of(std::move(rows));
  }
};

/// Writes one block of plain rows into a file made by hdf5_create, at row `args.first`.
std::uint64_t write_hdf5_block(Hdf5Args args, BlockBytes block);

/// A row as CSV fields: CsvRow as is, numbers and strings as one field, pairs, tuples and
/// arrays field by field, other types through a `CsvRow csv_fields(const T&)` found by ADL.
template <class T>
void append_csv_fields(const T& value, CsvRow& out);

template <class T>
concept HasCsvFields = requires(const T& t) {
  { csv_fields(t) } -> std::convertible_to<CsvRow>;
};

template <class T>
void append_csv_fields(const T& value, CsvRow& out) {
  if constexpr (std::is_same_v<T, CsvRow>) {
    out.insert(out.end(), value.begin(), value.end());
  } else if constexpr (std::is_same_v<T, std::string>) {
    out.push_back(value);
  } else if constexpr (std::is_floating_point_v<T>) {
    out.push_back(files::csv_field(static_cast<double>(value)));
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    out.push_back(files::csv_field(static_cast<std::int64_t>(value)));
  } else if constexpr (std::is_integral_v<T>) {
    out.push_back(files::csv_field(static_cast<std::uint64_t>(value)));
  } else if constexpr (HasCsvFields<T>) {
    CsvRow fields = csv_fields(value);
    out.insert(out.end(), fields.begin(), fields.end());
  } else {
    // pairs, tuples and arrays
    std::apply([&](const auto&... x) { (append_csv_fields(x, out), ...); }, value);
  }
}

struct CsvWriteSpec {
  std::string dir;
  CsvRow header;
  char delimiter = ',';
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& dir& header& delimiter;
  }
};

/// write_csv: writes a task's rows as DIR/part-NNNNN.csv; its one output row is their count.
template <class T>
struct CsvWriteKernel {
  static std::string name() { return "write_csv " + manta::detail::type_name<T>(); }
  static Rows run(const StageCall& call, const Rows& in) {
    const auto spec = Codec<CsvWriteSpec>::decode(call.function.data(), call.function.size());
    std::vector<CsvRow> rows;
    rows.reserve(in.size());
    for (const T& row : in.as<T>()) {
      CsvRow fields;
      append_csv_fields(row, fields);
      rows.push_back(std::move(fields));
    }
    char name[32];
    std::snprintf(name, sizeof name, "part-%05llu.csv",
                  static_cast<unsigned long long>(call.block_index));
    CsvOptions options;
    options.delimiter = spec.delimiter;
    options.header = !spec.header.empty();
    files::csv_write_file(spec.dir + "/" + name, rows, spec.header, options);
    return Rows::of(std::vector<std::uint64_t>{rows.size()});
  }
};

}  // namespace detail

/// The rows of an HDF5 dataset: a 1-D dataset of numbers as Dataset<number>, a 2-D [N][K] one as
/// Dataset<std::array<number, K>>. The element type must match T exactly (a DataError names
/// what the file holds otherwise). `blocks` 0: by the context's block size.
template <class T>
Dataset<T> read_hdf5(const std::string& file, const std::string& dataset,
                     std::uint64_t blocks = 0) {
  using Row = detail::Hdf5Row<T>;
  const files::Hdf5Layout layout = files::hdf5_inspect(file, dataset);
  const files::Element want = detail::element_of<typename Row::Element>();
  if (layout.element != want || layout.row_width != Row::width) {
    throw DataError("read_hdf5: " + file + ":" + dataset + " holds rows of " +
                    std::to_string(layout.row_width) + " " + files::element_name(layout.element) +
                    ", but the dataset's rows are " + std::to_string(Row::width) + " " +
                    files::element_name(want) + " (" + manta::detail::type_name<T>() +
                    "): read it as the type it holds");
  }
  if (blocks == 0) blocks = detail::default_parts(layout.rows, layout.rows * sizeof(T));
  blocks = std::min<std::uint64_t>(blocks, layout.rows);
  auto op = std::make_shared<detail::LogicalOp>();
  op->kind = detail::OpKind::read;
  op->label = "ReadHDF5[" + std::filesystem::path(file).filename().string() + ":" + dataset + "]";
  op->row_type = detail::row_type<T>();
  op->source.kernel = detail::source_kernel<detail::Hdf5Source<T>>();
  for (std::uint64_t b = 0; b < blocks; ++b) {
    detail::Hdf5Args args{file,
                          dataset,
                          static_cast<std::uint8_t>(layout.element),
                          layout.row_width,
                          layout.rows,
                          layout.rows * b / blocks,
                          0};
    args.count = layout.rows * (b + 1) / blocks - args.first;
    detail::ReadPart part;
    part.args = detail::encode_args(args);
    part.rows = static_cast<std::int64_t>(args.count);
    part.bytes = args.count * sizeof(T);
    op->source.parts.push_back(std::move(part));
  }
  return Dataset<T>(op);
}

/// The records of CSV files (a glob, a directory or one file), one block per file at least,
/// as rows of fields; map them to your type. A bad record fails with the file and line.
inline Dataset<CsvRow> read_csv(const std::string& pattern, const CsvOptions& options = {}) {
  auto op = std::make_shared<detail::LogicalOp>();
  op->kind = detail::OpKind::read;
  op->label = "ReadCSV[" + pattern + "]";
  op->row_type = detail::row_type<CsvRow>();
  op->source.kernel = detail::source_kernel<detail::CsvSource>();
  for (const std::string& path : files::expand_paths(pattern)) {
    detail::CsvArgs args{path, options.delimiter, options.header, options.columns};
    detail::ReadPart part;
    part.args = detail::encode_args(args);
    std::error_code ec;
    part.bytes = std::filesystem::file_size(path, ec);
    op->source.parts.push_back(std::move(part));
  }
  return Dataset<CsvRow>(op);
}

/// One row per file (path and bytes), files grouped into blocks of about the block size.
inline Dataset<BinaryFile> read_binary_files(const std::string& pattern) {
  auto op = std::make_shared<detail::LogicalOp>();
  op->kind = detail::OpKind::read;
  op->label = "ReadBinaryFiles[" + pattern + "]";
  op->row_type = detail::row_type<BinaryFile>();
  op->source.kernel = detail::source_kernel<detail::BinarySource>();
  const std::uint64_t target = DataContext::current().block_bytes();
  std::vector<std::string> group;
  std::uint64_t group_bytes = 0;
  auto flush = [&] {
    if (group.empty()) return;
    detail::ReadPart part;
    part.args = detail::encode_args(group);
    part.rows = static_cast<std::int64_t>(group.size());
    part.bytes = group_bytes;
    op->source.parts.push_back(std::move(part));
    group.clear();
    group_bytes = 0;
  };
  for (const std::string& path : files::expand_paths(pattern)) {
    std::error_code ec;
    const std::uint64_t size = std::filesystem::file_size(path, ec);
    if (!group.empty() && group_bytes + size > target) flush();
    group.push_back(path);
    group_bytes += size;
  }
  flush();
  return Dataset<BinaryFile>(op);
}

/// Writes the dataset as `dataset` in one HDF5 file (created or truncated), every block by a
/// task on the rank that holds it, at its rows' place. Rows are numbers or std::array of
/// numbers. When the plan cannot tell the row count in advance, the dataset is materialized
/// first. Returns the rows written.
template <class T>
std::uint64_t write_hdf5(const Dataset<T>& ds, const std::string& file,
                         const std::string& dataset) {
  using Row = detail::Hdf5Row<T>;
  static_assert(is_plain_row<T> && sizeof(T) == sizeof(typename Row::Element) * Row::width,
                "write_hdf5 writes rows of numbers or std::array of numbers");
  Dataset<T> source = ds;
  std::optional<std::uint64_t> rows = detail::known_rows(*ds.logical_plan());
  if (!rows) {
    source = ds.materialize();
    rows = detail::known_rows(*source.logical_plan());
  }
  const files::Hdf5Layout layout{file, dataset, detail::element_of<typename Row::Element>(), *rows,
                                 Row::width};
  files::hdf5_create(layout);
  detail::Execution run(detail::plan_physical(*source.logical_plan()), DataContext::current());
  std::vector<ObjectRef<std::uint64_t>> writes;
  std::uint64_t offset = 0, written = 0;
  const std::size_t max_writes = 2 * static_cast<std::size_t>(std::max(1, manta::world_size()));
  while (auto b = run.next()) {
    detail::Hdf5Args args{file,       dataset, static_cast<std::uint8_t>(layout.element),
                          Row::width, *rows,   offset,
                          b->rows};
    offset += b->rows;
    writes.push_back(
        manta::task(&detail::write_hdf5_block).name("WriteHDF5").remote(args, b->block));
    // Writes keep up with the pipeline: at most a few in flight, oldest first.
    while (writes.size() > max_writes) {
      written += *manta::get(writes.front());
      writes.erase(writes.begin());
    }
  }
  for (auto& w : writes) written += *manta::get(w);
  if (offset != *rows) {
    throw DataError("write_hdf5: " + file + ":" + dataset + " expected " + std::to_string(*rows) +
                    " rows but the dataset made " + std::to_string(offset));
  }
  return written;
}

/// Writes the dataset as CSV files DIR/part-NNNNN.csv, one per block (DIR is created), with
/// `header` as the first line of each when not empty. Returns the rows written.
template <class T>
std::uint64_t write_csv(const Dataset<T>& ds, const std::string& dir, const CsvRow& header = {},
                        char delimiter = ',') {
  files::make_directories(dir);
  detail::CsvWriteSpec spec{std::filesystem::absolute(dir).string(), header, delimiter};
  auto op = std::make_shared<detail::LogicalOp>();
  op->kind = detail::OpKind::stage;
  op->label = "WriteCSV[" + dir + "]";
  op->row_type = detail::row_type<std::uint64_t>();
  op->inputs = {ds.logical_plan()};
  op->stage.kernel = detail::stage_kernel<detail::CsvWriteKernel<T>>();
  op->stage.function = detail::encode_args(spec);
  op->stage.label = op->label;
  op->stage.out_type = op->row_type;
  std::uint64_t n = 0;
  for (std::uint64_t c : Dataset<std::uint64_t>(op).take_all()) n += c;
  return n;
}

}  // namespace manta::data
