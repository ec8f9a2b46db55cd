// The file formats datasets read and write, as plain functions on bytes and rows: HDF5 datasets
// (1-D of numbers, or 2-D rows of numbers), CSV files and whole binary files. The Dataset
// sources and sinks (manta/data/io.h) call these from tasks on every rank.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <manta/data/errors.h>

namespace manta::data::files {

/// The element types an HDF5 dataset may hold, as rows of Dataset<T> see them.
enum class Element : std::uint8_t { i8, u8, i16, u16, i32, u32, i64, u64, f32, f64 };

/// "f64", "i32", ...; and the size of one element in bytes.
const char* element_name(Element e) noexcept;
std::size_t element_size(Element e) noexcept;

/// Where the rows of an HDF5 dataset are: a 1-D dataset of N elements has N rows of one element;
/// a 2-D dataset [N][K] has N rows of K elements.
struct Hdf5Layout {
  std::string file;
  std::string dataset;  // path inside the file, e.g. "/x" or "group/values"
  Element element = Element::f64;
  std::uint64_t rows = 0;
  std::uint64_t row_width = 1;  // elements per row (K; 1 for a 1-D dataset)
  [[nodiscard]] std::uint64_t row_bytes() const noexcept {
    return row_width * element_size(element);
  }
};

/// Opens the file and describes the dataset. Throws DataError naming the file and dataset when
/// the file is missing or not HDF5, the dataset is absent, its type is not one of Element (or is
/// not little-endian native), or it has more than 2 dimensions. A scalar (0 dimensions) is
/// refused too; a 2-D [N][1] dataset reads as rows of width 1, as a 1-D one does.
Hdf5Layout hdf5_inspect(const std::string& file, const std::string& dataset);

/// Reads rows [first, first + count) into `out` (count * row_bytes() bytes). Safe to call from
/// many threads and ranks at once: a contiguous dataset is read with positioned reads of its
/// raw data; a chunked or filtered one through HDF5 hyperslab reads under the process-wide HDF5
/// lock. Throws DataError naming file, dataset and rows when the range is outside the dataset or
/// the read fails. Each call opens the file's metadata again (under the lock) to find the raw
/// data, and refuses a dataset whose type or shape no longer matches `layout`.
void hdf5_read_rows(const Hdf5Layout& layout, std::uint64_t first, std::uint64_t count,
                    std::byte* out);

/// Creates (or truncates) `layout.file` with a contiguous dataset of layout.rows rows, its space
/// allocated now and never filled, so that hdf5_write_rows can write disjoint row ranges from
/// many ranks at once. Parent groups of the dataset path are created. Throws DataError naming
/// the file when it cannot be created (missing directory, no permission). Rows of width 1 make a
/// 1-D dataset, wider rows a 2-D one; width 0 is refused.
void hdf5_create(const Hdf5Layout& layout);

/// Writes rows [first, first + count) of a dataset made by hdf5_create, with positioned writes
/// of its raw data (no HDF5 call touches the file's metadata, so ranks write at once). Throws
/// DataError naming file, dataset and rows when the range is outside the dataset, the dataset's
/// raw data is not one allocated run of bytes (not made by hdf5_create), or the write fails.
void hdf5_write_rows(const Hdf5Layout& layout, std::uint64_t first, std::uint64_t count,
                     const std::byte* data);

/// The files a pattern names: a glob ("data/*.csv"), a directory (its regular files, not
/// recursive) or one file; sorted by path (bytes, not the locale). Throws DataError naming the
/// pattern when nothing matches. Directories a glob matches are left out; an existing file whose
/// name holds glob characters is that file.
std::vector<std::string> expand_paths(const std::string& pattern);

/// One CSV record: its fields, unquoted.
using CsvRow = std::vector<std::string>;

struct CsvOptions {
  char delimiter = ',';
  bool header = true;  // the first line names the columns (read: skipped; write: written)
  /// When not 0, every record must have this many fields.
  std::size_t columns = 0;
};

/// Reads a CSV file (RFC 4180: quoted fields may hold delimiters, quotes as "" and newlines;
/// CRLF or LF line ends). With options.header the first record is returned in `header_out` when
/// it is not null and is not a row. Every record must have as many fields as the first one (or
/// options.columns); a record that does not, or an unterminated quote, throws DataError naming
/// the file and the line number (1-based, counting the header; a record spanning lines is named
/// by the line it starts on). Blank lines are no records (csv_write_file writes a record of one
/// empty field as ""); a lone CR ends a line too; a UTF-8 byte order mark is skipped; text after
/// a field's closing quote is an error, while a quote inside an unquoted field is kept.
std::vector<CsvRow> csv_read_file(const std::string& path, const CsvOptions& options,
                                  CsvRow* header_out = nullptr);

/// Writes rows as CSV (fields holding the delimiter, a quote or a line break are quoted), with
/// `header` first when options.header and it is not empty. Creates or truncates the file; throws
/// DataError naming it when that fails, or when a record has no fields or (options.columns not 0)
/// another count. Lines end with LF.
void csv_write_file(const std::string& path, const std::vector<CsvRow>& rows, const CsvRow& header,
                    const CsvOptions& options);

/// Formats one field the way csv_write_file writes numbers: integers exactly, doubles with the
/// shortest text that reads back to the same value (std::to_chars: "0.1", "1e+100", "nan").
std::string csv_field(double value);
std::string csv_field(std::int64_t value);
std::string csv_field(std::uint64_t value);

/// A whole file's bytes. Throws DataError naming the file when it cannot be read.
std::vector<std::byte> read_whole_file(const std::string& path);

/// Creates `dir` and its parents if missing; throws DataError naming it and the system's reason
/// when that fails, or when `dir` exists and is not a directory.
void make_directories(const std::string& dir);

}  // namespace manta::data::files
