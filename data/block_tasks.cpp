// The per-block tasks of datasets and the actor of actor pools (see block_tasks.h).
#include "data/block_tasks.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <typeinfo>
#include <utility>

#include <manta/data/errors.h>
#include <manta/manta.h>

namespace manta::data::detail {
namespace {

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::string exception_text(const std::exception& e) {
  return manta::detail::demangle(typeid(e).name()) + ": " + e.what();
}

[[noreturn]] void fail(const std::string& what, const MapTask& task, const std::string& cause) {
  throw OperatorError(what + " failed on block " + std::to_string(task.block_index) +
                      " of operator " + task.op_name + ": " + cause);
}

}  // namespace

TaskClock::TaskClock() : wall0_(wall_seconds()), cpu0_(thread_cpu_seconds()) {}

void TaskClock::finish(TaskOutput& out) const {
  out.wall_s = wall_seconds() - wall0_;
  out.cpu_s = thread_cpu_seconds() - cpu0_;
  out.rank = manta::rank();
}

Rows apply_stages(const MapTask& task, Rows rows, std::size_t first_stage) {
  for (std::size_t i = first_stage; i < task.stages.size(); ++i) {
    const StageSpec& stage = task.stages[i];
    const StageFn fn = find_stage_kernel(stage.kernel);
    try {
      rows = fn(StageCall{stage.function, stage.batch_size, task.block_index}, rows);
    } catch (const OperatorError&) {
      throw;
    } catch (const std::exception& e) {
      fail(stage.label, task, exception_text(e));
    } catch (...) {
      fail(stage.label, task, "an exception that is not a std::exception");
    }
  }
  return rows;
}

std::vector<BlockMeta> store_rows(const std::string& row_type, const Rows& rows,
                                  std::uint64_t target_block_bytes) {
  std::vector<BlockMeta> out;
  if (rows.empty()) return out;
  const RowKernels& kernels = find_row_kernels(row_type);
  const std::uint64_t target = std::max<std::uint64_t>(target_block_bytes, 1);
  auto put_block = [&](const Rows& part, BlockBytes bytes) {
    BlockMeta meta;
    meta.rows = part.size();
    meta.bytes = bytes.size();
    meta.rank = manta::rank();
    meta.block = manta::put(std::move(bytes));
    out.push_back(std::move(meta));
  };
  // Plain rows know their size before encoding; others are encoded once to find out, and
  // again in pieces only when that was more than twice the target.
  std::uint64_t pieces = 1;
  std::optional<BlockBytes> whole;
  if (kernels.plain_size != 0) {
    const std::uint64_t bytes = rows.size() * kernels.plain_size;
    if (bytes > 2 * target) pieces = (bytes + target - 1) / target;
  } else {
    whole = kernels.encode(rows);
    if (whole->size() > 2 * target) pieces = (whole->size() + target - 1) / target;
  }
  pieces = std::min<std::uint64_t>(pieces, rows.size());
  if (pieces <= 1) {
    put_block(rows, whole ? std::move(*whole) : kernels.encode(rows));
    return out;
  }
  whole.reset();
  for (std::uint64_t p = 0; p < pieces; ++p) {
    const std::size_t first = rows.size() * p / pieces;
    const std::size_t last = rows.size() * (p + 1) / pieces;
    Rows part = kernels.slice(rows, first, last - first);
    put_block(part, kernels.encode(part));
  }
  return out;
}

TaskOutput run_map_block(MapTask task, BlockBytes block) {
  TaskClock clock;
  TaskOutput out;
  Rows rows = find_row_kernels(task.in_type).decode(block);
  out.rows_in = rows.size();
  rows = apply_stages(task, std::move(rows));
  out.blocks = store_rows(task.out_type, rows, task.target_block_bytes);
  clock.finish(out);
  return out;
}

TaskOutput run_read_block(MapTask task) {
  TaskClock clock;
  TaskOutput out;
  const SourceFn source = find_source_kernel(task.source_kernel);
  Rows rows;
  try {
    rows = source(task.source_args, task.limit);
  } catch (const DataError& e) {
    fail("the read", task, e.what());
  } catch (const OperatorError&) {
    throw;
  } catch (const std::exception& e) {
    fail("the read", task, exception_text(e));
  }
  if (task.limit != 0 && rows.size() > task.limit) {
    rows = find_row_kernels(task.in_type).slice(rows, 0, task.limit);
  }
  out.rows_in = rows.size();
  rows = apply_stages(task, std::move(rows));
  out.blocks = store_rows(task.out_type, rows, task.target_block_bytes);
  clock.finish(out);
  return out;
}

TaskOutput join_slices(std::string op_name, std::string row_type, std::vector<SlicePiece> pieces,
                       std::uint64_t target_block_bytes) {
  TaskClock clock;
  TaskOutput out;
  const RowKernels& kernels = find_row_kernels(row_type);
  std::vector<Rows> parts;
  std::vector<std::shared_ptr<const BlockBytes>> held;  // the views' stored bytes
  for (const SlicePiece& piece : pieces) {
    auto bytes = manta::get(piece.block);
    Rows rows = kernels.decode(*bytes);
    if (piece.first + piece.count > rows.size()) {
      throw OperatorError(op_name + ": rows " + std::to_string(piece.first) + ".." +
                          std::to_string(piece.first + piece.count) + " of a block of " +
                          std::to_string(rows.size()) + " rows");
    }
    parts.push_back(kernels.slice(rows, piece.first, piece.count));
    held.push_back(std::move(bytes));
    out.rows_in += piece.count;
  }
  Rows joined = parts.empty() ? Rows{} : kernels.concat(parts);
  out.blocks = store_rows(row_type, joined, target_block_bytes);
  clock.finish(out);
  return out;
}

StageActor* StageActor::create(MapTask task) {
  std::unique_ptr<StageActor> actor(new StageActor());
  actor->task_ = std::move(task);
  if (actor->task_.stages.empty()) throw DataError("an actor pool needs a transform");
  actor->fns_ = &find_actor_kernel(actor->task_.stages.front().kernel);
  actor->instance_ = actor->fns_->create(actor->task_.stages.front().function);
  return actor.release();
}

StageActor::~StageActor() {
  if (instance_ != nullptr) fns_->destroy(instance_);
}

TaskOutput StageActor::run(std::uint64_t block_index, BlockBytes block) {
  TaskClock clock;
  TaskOutput out;
  MapTask& task = task_;
  task.block_index = block_index;
  Rows rows = find_row_kernels(task.in_type).decode(block);
  out.rows_in = rows.size();
  const StageSpec& first = task.stages.front();
  try {
    rows = fns_->run(instance_, StageCall{first.function, first.batch_size, block_index}, rows);
  } catch (const std::exception& e) {
    fail(first.label, task, exception_text(e));
  }
  rows = apply_stages(task, std::move(rows), 1);
  out.blocks = store_rows(task.out_type, rows, task.target_block_bytes);
  clock.finish(out);
  return out;
}

}  // namespace manta::data::detail

MANTA_REMOTE(manta::data::detail::run_map_block, manta::data::detail::run_read_block,
             manta::data::detail::join_slices, manta::data::detail::StageActor::create,
             &manta::data::detail::StageActor::run);
