// HDF5 datasets as rows: the dataset's description, row reads and the writes of a file made for
// many writers. HDF5's own calls are made under the process-wide HDF5 lock (the library is not
// thread-safe here); the raw data of a contiguous dataset moves with positioned reads and writes
// on a plain descriptor, outside the lock, so that many threads and ranks read and write at once.
#include <fcntl.h>
#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include <manta/data/files.h>

#include "spill/file_descriptor.h"
#include "spill/hdf5_lock.h"
#include "spill/hdf5_support.h"

namespace manta::data::files {
namespace {

using spill::detail::Handle;

constexpr std::array kElements{Element::i8,  Element::u8,  Element::i16, Element::u16,
                               Element::i32, Element::u32, Element::i64, Element::u64,
                               Element::f32, Element::f64};

// The HDF5 type of an element as this process holds it in memory; the type hdf5_create writes.
hid_t native_type(Element e) {
  switch (e) {
    case Element::i8:
      return H5T_NATIVE_INT8;
    case Element::u8:
      return H5T_NATIVE_UINT8;
    case Element::i16:
      return H5T_NATIVE_INT16;
    case Element::u16:
      return H5T_NATIVE_UINT16;
    case Element::i32:
      return H5T_NATIVE_INT32;
    case Element::u32:
      return H5T_NATIVE_UINT32;
    case Element::i64:
      return H5T_NATIVE_INT64;
    case Element::u64:
      return H5T_NATIVE_UINT64;
    case Element::f32:
      return H5T_NATIVE_FLOAT;
    case Element::f64:
      return H5T_NATIVE_DOUBLE;
  }
  return H5I_INVALID_HID;
}

std::string where(const std::string& file, const std::string& dataset) {
  return fmt::format("HDF5 file '{}' dataset '{}'", file, dataset);
}

std::string rows_text(std::uint64_t first, std::uint64_t count) {
  return fmt::format("rows [{}, {})", first, first + count);
}

// What the library said about the call that just failed (the caller holds the lock).
std::string failure() { return spill::detail::take_hdf5_failure().detail; }

// A type the datasets cannot read, in words for a message: "variable-length string",
// "big-endian i32", "compound", ...
std::string describe_type(hid_t type) {
  const H5T_class_t cls = H5Tget_class(type);
  const std::size_t size = H5Tget_size(type);
  switch (cls) {
    case H5T_INTEGER:
    case H5T_FLOAT: {
      const bool big = H5Tget_order(type) == H5T_ORDER_BE;
      std::string name;
      if (cls == H5T_FLOAT) {
        name = fmt::format("{}-bit float", size * 8);
      } else {
        name = fmt::format("{}-bit {} integer", size * 8,
                           H5Tget_sign(type) == H5T_SGN_NONE ? "unsigned" : "signed");
      }
      if (big) return "big-endian " + name;
      return fmt::format("{} (precision {} bits, offset {})", name, H5Tget_precision(type),
                         H5Tget_offset(type));
    }
    case H5T_STRING:
      return H5Tis_variable_str(type) > 0 ? std::string("variable-length string")
                                          : fmt::format("fixed-length string of {} bytes", size);
    case H5T_COMPOUND:
      return "compound";
    case H5T_ENUM:
      return "enum";
    case H5T_ARRAY:
      return "array";
    case H5T_VLEN:
      return "variable-length sequence";
    case H5T_OPAQUE:
      return "opaque";
    case H5T_BITFIELD:
      return "bitfield";
    case H5T_REFERENCE:
      return "reference";
    case H5T_TIME:
      return "time";
    default:
      return "unknown type";
  }
}

// An open file and a dataset in it; made and destroyed under the lock.
struct Opened {
  Handle file;
  Handle dataset;
};

// Opens `file` read-only (or for writing) and `dataset` in it, with messages for every way that
// fails. The caller holds the lock.
Opened open_dataset(const std::string& file, const std::string& dataset, unsigned flags) {
  spill::detail::quiet_hdf5();
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    throw DataError(fmt::format("HDF5 file '{}': cannot open it ({})", file, std::strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) {
    throw DataError(fmt::format("HDF5 file '{}': is a directory, not a file", file));
  }
  // File locks as the library takes them, except where the file system has none (some network
  // file systems), where the library would otherwise refuse to open the file.
  const Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!fapl.valid() || H5Pset_file_locking(fapl.get(), true, true) < 0) {
    throw DataError(fmt::format("HDF5 file '{}': cannot open it: {}", file, failure()));
  }
  Opened o;
  errno = 0;
  o.file = Handle(H5Fopen(file.c_str(), flags, fapl.get()), H5Fclose);
  if (!o.file.valid()) {
    const std::string why = failure();
    errno = 0;
    if (H5Fis_hdf5(file.c_str()) == 0) {
      H5Eclear2(H5E_DEFAULT);
      throw DataError(fmt::format("HDF5 file '{}': is not an HDF5 file", file));
    }
    H5Eclear2(H5E_DEFAULT);
    throw DataError(fmt::format("HDF5 file '{}': cannot open it: {}", file, why));
  }
  // Each link of the path must exist before the next is asked about: the library fails, rather
  // than answering no, when a group on the way is missing.
  if (dataset.empty() || dataset == "/") {
    throw DataError(fmt::format("HDF5 file '{}': no dataset named (got '{}')", file, dataset));
  }
  std::string prefix = dataset.front() == '/' ? "/" : "";
  std::size_t at = dataset.front() == '/' ? 1 : 0;
  while (at <= dataset.size()) {
    std::size_t end = dataset.find('/', at);
    if (end == std::string::npos) end = dataset.size();
    if (end > at) {
      prefix += dataset.substr(at, end - at);
      const htri_t exists = H5Lexists(o.file.get(), prefix.c_str(), H5P_DEFAULT);
      if (exists <= 0) {
        H5Eclear2(H5E_DEFAULT);
        const bool group = dataset.find_first_not_of('/', end) != std::string::npos;
        throw DataError(fmt::format("HDF5 file '{}': has no dataset '{}'{}", file, dataset,
                                    group ? fmt::format(" (no group '{}')", prefix) : ""));
      }
      prefix += '/';
    }
    at = end + 1;
  }
  H5O_info_t info{};
  if (H5Oget_info_by_name(o.file.get(), dataset.c_str(), &info, H5P_DEFAULT) < 0) {
    throw DataError(fmt::format("{}: cannot read it: {}", where(file, dataset), failure()));
  }
  if (info.type != H5O_TYPE_DATASET) {
    throw DataError(
        fmt::format("{}: is a {}, not a dataset", where(file, dataset),
                    info.type == H5O_TYPE_GROUP ? "group" : "named type or other object"));
  }
  o.dataset = Handle(H5Dopen2(o.file.get(), dataset.c_str(), H5P_DEFAULT), H5Dclose);
  if (!o.dataset.valid()) {
    throw DataError(fmt::format("{}: cannot open it: {}", where(file, dataset), failure()));
  }
  return o;
}

// The layout of an open dataset. The caller holds the lock.
Hdf5Layout describe(const Opened& o, const std::string& file, const std::string& dataset) {
  Hdf5Layout layout;
  layout.file = file;
  layout.dataset = dataset;

  const Handle type(H5Dget_type(o.dataset.get()), H5Tclose);
  if (!type.valid()) {
    throw DataError(fmt::format("{}: cannot read its type: {}", where(file, dataset), failure()));
  }
  bool known = false;
  for (const Element e : kElements) {
    // H5Tequal compares class, size, sign, byte order, precision and (for floats) the bit layout:
    // the file's bytes are then this process's values as they are.
    if (H5Tequal(type.get(), native_type(e)) > 0) {
      layout.element = e;
      known = true;
      break;
    }
  }
  if (!known) {
    H5Eclear2(H5E_DEFAULT);
    throw DataError(fmt::format(
        "{}: its elements are {}; datasets read i8, u8, i16, u16, i32, u32, i64, u64, f32 and "
        "f64 (little-endian, as this machine holds them)",
        where(file, dataset), describe_type(type.get())));
  }

  const Handle space(H5Dget_space(o.dataset.get()), H5Sclose);
  const int ndims = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  if (ndims < 0) {
    throw DataError(fmt::format("{}: cannot read its shape: {}", where(file, dataset), failure()));
  }
  if (ndims == 0 || ndims > 2) {
    throw DataError(fmt::format(
        "{}: has {} dimensions; datasets read 1-D datasets (a row per element) and 2-D ones (a "
        "row per first index)",
        where(file, dataset), ndims));
  }
  std::array<hsize_t, 2> dims{0, 1};
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  layout.rows = dims[0];
  layout.row_width = ndims == 2 ? dims[1] : 1;
  return layout;
}

// Where a dataset's raw data starts in its file, when it is one run of bytes there (contiguous,
// allocated, not external); nullopt-like HADDR_UNDEF otherwise. The caller holds the lock.
haddr_t raw_offset(const Opened& o) {
  const Handle dcpl(H5Dget_create_plist(o.dataset.get()), H5Pclose);
  if (!dcpl.valid() || H5Pget_layout(dcpl.get()) != H5D_CONTIGUOUS) {
    H5Eclear2(H5E_DEFAULT);
    return HADDR_UNDEF;
  }
  if (H5Pget_external_count(dcpl.get()) != 0) return HADDR_UNDEF;
  // Absolute in the file (the library adds the user block, if any).
  const haddr_t offset = H5Dget_offset(o.dataset.get());
  H5Eclear2(H5E_DEFAULT);
  return offset;
}

// The dataset must still be what `layout` says: a file rewritten since it was inspected would
// otherwise be read as rows of another shape.
void check_unchanged(const Hdf5Layout& layout, const Hdf5Layout& now) {
  if (now.element != layout.element || now.rows != layout.rows ||
      now.row_width != layout.row_width) {
    throw DataError(fmt::format(
        "{}: changed since it was inspected: now {} rows of {} x {}, expected {} rows of {} x {}",
        where(layout.file, layout.dataset), now.rows, now.row_width, element_name(now.element),
        layout.rows, layout.row_width, element_name(layout.element)));
  }
}

void check_range(const Hdf5Layout& layout, std::uint64_t first, std::uint64_t count) {
  if (first > layout.rows || count > layout.rows - first) {
    throw DataError(fmt::format("{}: {} are outside the dataset's {} rows",
                                where(layout.file, layout.dataset), rows_text(first, count),
                                layout.rows));
  }
  if (layout.row_bytes() != 0 &&
      count > std::numeric_limits<std::uint64_t>::max() / layout.row_bytes()) {
    throw DataError(fmt::format("{}: {} are too many bytes to move at once",
                                where(layout.file, layout.dataset), rows_text(first, count)));
  }
}

using Fd = spill::FileDescriptor;

// The file, opened to read or write the rows' raw bytes (`verb`: "read" or "write").
Fd open_rows(const Hdf5Layout& layout, std::uint64_t first, std::uint64_t count, int flags,
             const char* verb) {
  const int fd = ::open(layout.file.c_str(), flags | O_CLOEXEC);
  if (fd < 0) {
    throw DataError(fmt::format("{}: cannot open it to {} {} ({})",
                                where(layout.file, layout.dataset), verb, rows_text(first, count),
                                std::strerror(errno)));
  }
  return Fd(fd);
}

// Opens the dataset under the lock and returns where its raw data starts (HADDR_UNDEF when it is
// not one run of bytes), having checked it still matches `layout`.
haddr_t locate(const Hdf5Layout& layout, unsigned flags) {
  const auto lock = spill::hdf5_lock();
  const Opened o = open_dataset(layout.file, layout.dataset, flags);
  check_unchanged(layout, describe(o, layout.file, layout.dataset));
  return raw_offset(o);
}

// Reads the rows through the library: chunked, filtered, compact or not yet allocated data.
void read_through_hdf5(const Hdf5Layout& layout, std::uint64_t first, std::uint64_t count,
                       std::byte* out) {
  const auto lock = spill::hdf5_lock();
  const Opened o = open_dataset(layout.file, layout.dataset, H5F_ACC_RDONLY);
  check_unchanged(layout, describe(o, layout.file, layout.dataset));
  const Handle file_space(H5Dget_space(o.dataset.get()), H5Sclose);
  const int rank = file_space.valid() ? H5Sget_simple_extent_ndims(file_space.get()) : -1;
  const std::array<hsize_t, 2> start{first, 0};
  const std::array<hsize_t, 2> extent{count, layout.row_width};
  errno = 0;
  if (rank < 1 || H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr,
                                      extent.data(), nullptr) < 0) {
    throw DataError(fmt::format("{}: cannot select {}: {}", where(layout.file, layout.dataset),
                                rows_text(first, count), failure()));
  }
  const Handle memory_space(H5Screate_simple(rank, extent.data(), nullptr), H5Sclose);
  errno = 0;
  if (!memory_space.valid() ||
      H5Dread(o.dataset.get(), native_type(layout.element), memory_space.get(), file_space.get(),
              H5P_DEFAULT, out) < 0) {
    throw DataError(fmt::format("{}: reading {} failed: {}", where(layout.file, layout.dataset),
                                rows_text(first, count), failure()));
  }
}

}  // namespace

const char* element_name(Element e) noexcept {
  switch (e) {
    case Element::i8:
      return "i8";
    case Element::u8:
      return "u8";
    case Element::i16:
      return "i16";
    case Element::u16:
      return "u16";
    case Element::i32:
      return "i32";
    case Element::u32:
      return "u32";
    case Element::i64:
      return "i64";
    case Element::u64:
      return "u64";
    case Element::f32:
      return "f32";
    case Element::f64:
      return "f64";
  }
  return "?";
}

std::size_t element_size(Element e) noexcept {
  switch (e) {
    case Element::i8:
    case Element::u8:
      return 1;
    case Element::i16:
    case Element::u16:
      return 2;
    case Element::i32:
    case Element::u32:
    case Element::f32:
      return 4;
    case Element::i64:
    case Element::u64:
    case Element::f64:
      return 8;
  }
  return 0;
}

Hdf5Layout hdf5_inspect(const std::string& file, const std::string& dataset) {
  const auto lock = spill::hdf5_lock();
  const Opened o = open_dataset(file, dataset, H5F_ACC_RDONLY);
  return describe(o, file, dataset);
}

void hdf5_read_rows(const Hdf5Layout& layout, std::uint64_t first, std::uint64_t count,
                    std::byte* out) {
  check_range(layout, first, count);
  if (count == 0 || layout.row_bytes() == 0) return;
  const haddr_t offset = locate(layout, H5F_ACC_RDONLY);
  if (offset == HADDR_UNDEF) {
    read_through_hdf5(layout, first, count, out);
    return;
  }
  Fd fd = open_rows(layout, first, count, O_RDONLY, "read");
  const std::uint64_t start = offset + first * layout.row_bytes();
  const std::uint64_t total = count * layout.row_bytes();
  std::uint64_t done = 0;
  while (done < total) {
    const ssize_t n = ::pread(fd.get(), out + done, total - done, static_cast<off_t>(start + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      throw DataError(fmt::format("{}: reading {} failed ({})", where(layout.file, layout.dataset),
                                  rows_text(first, count), std::strerror(errno)));
    }
    if (n == 0) {
      throw DataError(fmt::format(
          "{}: reading {}: the file ends at byte {}, before the rows' last byte {} (was it cut "
          "short?)",
          where(layout.file, layout.dataset), rows_text(first, count), start + done,
          start + total));
    }
    done += static_cast<std::uint64_t>(n);
  }
}

void hdf5_create(const Hdf5Layout& layout) {
  if (layout.dataset.empty() || layout.dataset == "/") {
    throw DataError(fmt::format("HDF5 file '{}': no dataset named to create (got '{}')",
                                layout.file, layout.dataset));
  }
  if (layout.row_width == 0) {
    throw DataError(
        fmt::format("{}: rows of 0 elements cannot be stored", where(layout.file, layout.dataset)));
  }
  const auto lock = spill::hdf5_lock();
  spill::detail::quiet_hdf5();
  errno = 0;
  Handle file(H5Fcreate(layout.file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!file.valid()) {
    throw DataError(fmt::format("HDF5 file '{}': cannot create it: {}", layout.file, failure()));
  }
  auto fail = [&](const char* doing) {
    throw DataError(
        fmt::format("{}: {} failed: {}", where(layout.file, layout.dataset), doing, failure()));
  };

  // One dimension for rows of one element, as a 1-D dataset reads back; else [rows][width].
  const int rank = layout.row_width == 1 ? 1 : 2;
  const std::array<hsize_t, 2> dims{layout.rows, layout.row_width};
  const Handle space(H5Screate_simple(rank, dims.data(), nullptr), H5Sclose);
  if (!space.valid()) fail("describing its shape");

  const Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  if (!lcpl.valid() || H5Pset_create_intermediate_group(lcpl.get(), 1) < 0) {
    fail("setting up its groups");
  }
  // Contiguous, its space allocated now and never filled: the raw data has a file offset at
  // once, which hdf5_write_rows writes at without the library, and nothing writes it twice.
  const Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (!dcpl.valid() || H5Pset_layout(dcpl.get(), H5D_CONTIGUOUS) < 0 ||
      H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY) < 0 ||
      H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER) < 0) {
    fail("setting up its layout");
  }
  errno = 0;
  Handle dataset(H5Dcreate2(file.get(), layout.dataset.c_str(), native_type(layout.element),
                            space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT),
                 H5Dclose);
  if (!dataset.valid()) fail("creating it");
  errno = 0;
  if (!dataset.reset()) fail("closing it");
  errno = 0;
  if (!file.reset()) {
    throw DataError(
        fmt::format("HDF5 file '{}': writing it out failed: {}", layout.file, failure()));
  }
}

void hdf5_write_rows(const Hdf5Layout& layout, std::uint64_t first, std::uint64_t count,
                     const std::byte* data) {
  check_range(layout, first, count);
  if (count == 0) return;
  // Read-only: the library must not write the file's metadata while other ranks write rows.
  const haddr_t offset = locate(layout, H5F_ACC_RDONLY);
  if (offset == HADDR_UNDEF) {
    throw DataError(fmt::format(
        "{}: its raw data is not one allocated run of bytes (chunked, compact, external or not "
        "allocated), so rows cannot be written in place; make the file with hdf5_create",
        where(layout.file, layout.dataset)));
  }
  Fd fd = open_rows(layout, first, count, O_WRONLY, "write");
  const std::uint64_t start = offset + first * layout.row_bytes();
  const std::uint64_t total = count * layout.row_bytes();
  std::uint64_t done = 0;
  while (done < total) {
    const ssize_t n =
        ::pwrite(fd.get(), data + done, total - done, static_cast<off_t>(start + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw DataError(fmt::format("{}: writing {} failed ({})", where(layout.file, layout.dataset),
                                  rows_text(first, count),
                                  n < 0 ? std::strerror(errno) : "nothing was written"));
    }
    done += static_cast<std::uint64_t>(n);
  }
  if (!fd.close()) {
    throw DataError(fmt::format("{}: writing {} failed when closing the file ({})",
                                where(layout.file, layout.dataset), rows_text(first, count),
                                std::strerror(errno)));
  }
}

}  // namespace manta::data::files
