// Paths datasets read and write: patterns expanded to files, whole files read, directories made.
#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

#include <manta/data/files.h>

namespace manta::data::files {
namespace {

namespace fs = std::filesystem;

bool is_regular(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);  // follows symbolic links
}

std::vector<std::string> directory_files(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (is_regular(it->path().string())) files.push_back(it->path().string());
  }
  if (ec) {
    throw DataError(fmt::format("cannot list the directory '{}' ({})", dir, ec.message()));
  }
  if (files.empty()) {
    throw DataError(fmt::format("the directory '{}' holds no files", dir));
  }
  return files;
}

std::vector<std::string> glob_files(const std::string& pattern) {
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
  std::vector<std::string> files;
  if (rc == 0) {
    for (std::size_t i = 0; i < g.gl_pathc; ++i) {
      // Directories that match are not files to read.
      if (is_regular(g.gl_pathv[i])) files.emplace_back(g.gl_pathv[i]);
    }
  }
  ::globfree(&g);
  if (rc == GLOB_NOSPACE) {
    throw DataError(fmt::format("expanding '{}' ran out of memory", pattern));
  }
  if (rc == GLOB_ABORTED) {
    throw DataError(fmt::format("expanding '{}' failed: a directory could not be read", pattern));
  }
  if (files.empty()) {
    throw DataError(fmt::format(
        "no files match '{}' (a glob such as data/*.csv, a directory or a file)", pattern));
  }
  return files;
}

}  // namespace

std::vector<std::string> expand_paths(const std::string& pattern) {
  if (pattern.empty()) throw DataError("no files match '' (the path is empty)");
  std::error_code ec;
  std::vector<std::string> files;
  if (fs::is_directory(pattern, ec)) {
    files = directory_files(pattern);
  } else if (is_regular(pattern)) {
    // A file whose name holds glob characters is that file.
    files.push_back(pattern);
  } else {
    files = glob_files(pattern);
  }
  // Byte order, whatever the locale: every rank lists the files the same way.
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::byte> read_whole_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw DataError(fmt::format("cannot read '{}' ({})", path, std::strerror(errno)));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  // Room for the whole file and one byte more, so that the read that finds the end needs no
  // larger buffer; the file is read to its end, not to the size seen, in case it grows.
  std::size_t room = 65536;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) room = static_cast<std::size_t>(st.st_size) + 1;
  std::vector<std::byte> bytes(room);
  std::size_t used = 0;
  for (;;) {
    if (used == bytes.size()) bytes.resize(bytes.size() * 2);
    const ssize_t n = ::read(fd, bytes.data() + used, bytes.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      throw DataError(fmt::format("cannot read '{}' ({})", path, std::strerror(errno)));
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  bytes.resize(used);
  return bytes;
}

void make_directories(const std::string& dir) {
  if (dir.empty()) throw DataError("cannot create a directory with an empty name");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    throw DataError(fmt::format("cannot create the directory '{}' ({})", dir, ec.message()));
  }
  // create_directories reports no error when the path exists as something else.
  if (!fs::is_directory(dir, ec)) {
    throw DataError(
        fmt::format("cannot create the directory '{}' (a file of that name exists)", dir));
  }
}

}  // namespace manta::data::files
