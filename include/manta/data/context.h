// Settings of dataset execution on the driver: block size, the store budget that holds
// operators back, task concurrency and progress output. DataContext::current() is what new
// executions use; change it before consuming a dataset.
#pragma once

#include <cstdint>

namespace manta::data {

struct DataContext {
  /// Bytes a block aims at: sources split their data so, and a task whose output is more than
  /// twice this splits it into blocks of about this size. Small stores lower it (see
  /// block_bytes()).
  std::uint64_t target_block_bytes = 16ull << 20;
  /// Object-store bytes a running pipeline may hold (blocks made and not yet consumed, and what
  /// running tasks are about to make), shared by its operators: an operator whose share is full
  /// launches nothing until its consumer catches up. 0: half the stores' total capacity.
  std::uint64_t store_budget_bytes = 0;
  /// Tasks one operator may have running at once; 0: the job's CPUs.
  std::uint32_t max_tasks_per_operator = 0;
  /// Keep the order of blocks (the output in the order of the input), as serial code would.
  bool preserve_order = true;
  /// A progress line per operator on standard error when it is a terminal.
  bool progress = true;

  /// The settings new executions on this process use.
  static DataContext& current();

  /// The block size used: target_block_bytes, but at most a sixteenth of the smallest store
  /// (a task holds its input and output blocks, and a rank runs several), and at least 64 KiB.
  [[nodiscard]] std::uint64_t block_bytes() const;

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& target_block_bytes& store_budget_bytes& max_tasks_per_operator& preserve_order& progress;
  }
};

}  // namespace manta::data
