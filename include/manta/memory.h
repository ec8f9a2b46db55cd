// memory_summary(): what every rank's object store holds, in the spirit of `ray memory`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <manta/ids.h>

namespace manta {

/// One rank's object store.
struct RankMemory {
  int rank = 0;
  std::uint64_t objects = 0;          // entries, with or without bytes here
  std::uint64_t bytes = 0;            // bytes held here
  std::uint64_t owned_objects = 0;    // objects this rank owns (tracks refs and locations of)
  std::uint64_t in_use_bytes = 0;     // bytes of objects an ObjectRef on this rank refers to
  std::uint64_t pinned_bytes = 0;     // bytes a get view, a running task or a transfer holds
  std::uint64_t spillable_bytes = 0;  // bytes nothing pins
  std::uint64_t primary_copies = 0;   // results kept here for owners on other ranks
  std::uint64_t cached_copies = 0;    // copies fetched from other ranks, kept for reuse
  std::uint64_t borrowed_refs = 0;    // objects owned elsewhere this rank holds refs to
  std::uint64_t bytes_fetched = 0;    // pulled from other ranks
  std::uint64_t bytes_served = 0;     // pulled by other ranks from here
  std::uint64_t fetches = 0;
  std::uint64_t serves = 0;
  std::uint64_t serves_of_copies = 0;  // pulls served from a copy this rank fetched
  // Capacity and spilling.
  std::uint64_t capacity_bytes = 0;    // the store's hard capacity (--manta-object-store-memory)
  std::uint64_t spilled_objects = 0;   // objects whose bytes are in this rank's spill file
  std::uint64_t spilled_bytes = 0;     // their bytes
  std::uint64_t spill_files = 0;       // spill files this rank has open (0 or 1)
  std::string spill_file;              // its path (the file exists once something spilled)
  std::uint64_t spill_file_bytes = 0;  // size of the spill file's data
  std::uint64_t bytes_spilled = 0;     // written to the spill file so far
  std::uint64_t bytes_restored = 0;    // read back from it into memory
  std::uint64_t bytes_read_from_files = 0;  // other ranks' spilled objects read from their files
  double spill_seconds = 0;                 // time spent writing spill files
  double restore_seconds = 0;               // time spent reading them
  // Lineage (objects this rank owns, rebuilt from their tasks when every copy is lost).
  std::uint64_t lineage_objects = 0;        // owned objects whose task spec is kept
  std::uint64_t lineage_bytes = 0;          // what those specs take (--manta-max-lineage-bytes)
  std::uint64_t lineage_evicted = 0;        // specs dropped to stay under the bound, ever
  std::uint64_t objects_reconstructed = 0;  // reruns of a task to rebuild a lost object, ever
  std::uint64_t objects_lost = 0;           // owned objects failed because every copy was lost
  // Node-shared store: ranks of a node read each other's large objects in place.
  std::uint64_t shared_bytes = 0;      // this rank's large blocks in shared memory segments
  std::uint64_t viewed_objects = 0;    // objects here that neighbour ranks read in place now
  std::uint64_t viewed_bytes = 0;      // their bytes
  std::uint64_t views_held = 0;        // neighbours' objects this rank reads in place now
  std::uint64_t views_held_bytes = 0;  // their bytes (not counted in `bytes`)
  std::uint64_t views_served = 0;      // reads neighbours made in place, without a copy, ever
  std::uint64_t bytes_viewed = 0;      // their bytes
  /// Throughput of spill writes and of restores, in MB/s (10^6 bytes), 0 if none yet.
  [[nodiscard]] double spill_mb_per_s() const;
  [[nodiscard]] double restore_mb_per_s() const;
};

/// One object as one rank holds it.
struct ObjectSummary {
  ObjectId id;
  int rank = 0;             // the rank that holds this entry
  std::uint64_t size = 0;   // bytes (0 while pending)
  std::string role;         // "owned", "primary copy", "cached copy", "borrowed" or "view"
  std::string state;        // "pending", "ready", "remote" or "failed"
  bool referenced = false;  // an ObjectRef on this rank refers to it
  bool pinned = false;
  int borrowers = 0;       // owner: ranks holding references
  int locations = 0;       // owner: ranks holding the bytes
  int contained = 0;       // references inside it that it keeps alive
  bool in_memory = false;  // its bytes are in this rank's memory
  bool spilled = false;    // its bytes are in this rank's spill file
  int viewers = 0;         // neighbour ranks reading its bytes here in place now
  int viewing = -1;        // a view: the neighbour rank whose memory holds the bytes, else -1
};

/// One placement group, as rank 0's table knows it.
struct PlacementGroupSummary {
  std::string id;  // e.g. "pg0.3"
  std::string name;
  std::string strategy;              // pack, spread, strict_pack, strict_spread
  std::string state;                 // waiting, committing, ready, failed, removed
  std::vector<std::string> bundles;  // each bundle's resources, as text
  std::vector<int> ranks;            // each bundle's rank (empty until placed)
};

/// One collective group of actors, as rank 0 knows it.
struct CollectiveGroupSummary {
  std::string name;
  std::vector<std::string> members;  // actor ids, in group-rank order
  std::vector<int> ranks;            // each member's rank
  std::string state;                 // "ready", or "broken: <cause>"
};

struct MemorySummary {
  std::vector<RankMemory> ranks;       // by rank
  std::vector<ObjectSummary> objects;  // largest first
  /// Live placement groups, then the most recently removed or failed, oldest first.
  std::vector<PlacementGroupSummary> placement_groups;
  /// Collective groups that exist now, by name.
  std::vector<CollectiveGroupSummary> collective_groups;
  [[nodiscard]] RankMemory total() const;
  /// A table per rank and the largest objects, for people.
  [[nodiscard]] std::string to_string() const;
};

/// Asks every rank for its store's state (objects, bytes, pinned / in use / spillable, transfer
/// counters, capacity, spilled bytes and spill / restore throughput) and up to `max_objects` of the
/// largest objects across the job. Callable from the driver and from tasks; `--manta-summary`
/// prints it at shutdown.
MemorySummary memory_summary(std::size_t max_objects = 20);

}  // namespace manta
