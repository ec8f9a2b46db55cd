// Writes a small spill file and keeps it, for h5tools_check.sh: pieces of a few sizes in two
// writes, one piece released, so that /index holds live and released rows.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "spill/spill_file.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s FILE\n", argv[0]);
    return 2;
  }
  try {
    manta::spill::SpillOptions options;
    options.chunk_bytes = 4096;
    auto f = manta::spill::SpillFile::create(argv[1], options);
    std::vector<std::byte> bytes(10000);
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>(i % 251);
    const std::vector<manta::spill::Piece> first = {
        {1, 10, bytes.data(), 100}, {2, 20, bytes.data(), 0}, {3, 30, bytes.data(), 5000}};
    const auto extents = f->write(first);
    const manta::spill::Piece second{4, 40, bytes.data(), bytes.size()};
    f->write({&second, 1});
    f->release(extents[0]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
