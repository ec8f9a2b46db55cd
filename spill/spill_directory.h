// The per-job spill directory: `<root>/manta-<job>/`, mode 0700, with one file per rank and one
// owner record per process that uses it (owner-<host>-<pid>, see process_owner.h).
#pragma once

#include <cstdint>
#include <string>

#include "spill/spill_error.h"

namespace manta::spill {

class SpillDirectory {
 public:
  /// Creates `root` (with parents) if missing and the job directory inside it (several ranks
  /// may do this at once), then proves it writable with a probe file. Throws SpillError naming
  /// the path, the system's reason and the fix (`--manta-spill-dir`).
  SpillDirectory(const std::string& root, const std::string& job);

  [[nodiscard]] const std::string& path() const { return path_; }
  /// `<path>/rank-<rank>.h5`.
  [[nodiscard]] std::string file_for_rank(int rank) const;
  /// Bytes free for unprivileged users on the directory's file system.
  [[nodiscard]] std::uint64_t free_bytes() const;
  /// Removes the job directory and everything in it (the root stays). Never throws.
  void remove() noexcept;

 private:
  std::string path_;
};

}  // namespace manta::spill
