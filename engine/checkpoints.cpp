#include "engine/checkpoints.h"

#include <fmt/format.h>

#include <chrono>
#include <future>
#include <nlohmann/json.hpp>

#include "engine/checkpoint_records.h"
#include "engine/dispatcher.h"
#include "engine/function_table.h"
#include "engine/log.h"
#include "engine/timeline.h"

namespace manta::engine {

using transport::WireReader;
using transport::WireWriter;

namespace {

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Checkpoints::~Checkpoints() { stop(); }

std::string Checkpoints::program_name(const std::string& argv0) {
  const auto slash = argv0.rfind('/');
  return slash == std::string::npos ? argv0 : argv0.substr(slash + 1);
}

std::string Checkpoints::fingerprint() {
  return fmt::format("{:016x}", FunctionTable::instance().hash());
}

void Checkpoints::register_handlers(Dispatcher& d) {
  d.on(MessageType::checkpoint_begin, [this](int, WireReader& r, auto) {
    std::string dir = r.str();
    // The write blocks until every rank is in it: never on the progress thread.
    std::lock_guard lock(mutex_);
    if (worker_.joinable()) worker_.join();  // the last one has ended everywhere by now
    worker_ = std::thread([this, dir = std::move(dir)] {
      try {
        write_part(dir, {});
      } catch (const std::exception& e) {
        log().info("checkpoint in {}: {}", dir, e.what());  // rank 0 reports it to the driver
      }
    });
  });
}

void Checkpoints::stop() {
  std::thread t;
  {
    std::lock_guard lock(mutex_);
    t = std::move(worker_);
  }
  if (t.joinable()) t.join();
}

spill::CheckpointWritten Checkpoints::take(const std::string& dir, std::vector<OwnedRecord> extra) {
  for (int r = 1; r < ctx_.size; ++r) {
    ctx_.outbox.send(r, [&](WireWriter& w) { w.put(MessageType::checkpoint_begin).str(dir); });
  }
  return write_part(dir, std::move(extra));
}

spill::CheckpointWritten Checkpoints::write_part(const std::string& dir,
                                                 std::vector<OwnedRecord> extra) {
  const std::int64_t start = now_us();
  std::vector<ActorHost::SavedActor> saved;
  std::string local_error;
  try {
    saved = actors_.hold_and_save(std::chrono::milliseconds(
        static_cast<std::int64_t>(ctx_.config.checkpoint_timeout_s * 1000)));
  } catch (const std::exception& e) {
    local_error = e.what();  // the write names the rank
  }
  std::vector<spill::CheckpointRecord> records;
  for (const auto& s : saved) {
    const detail::FunctionEntry* f = FunctionTable::instance().at(s.creation->function);
    if (!s.skipped.empty()) {
      // Listed in the manifest with no bytes, so a reader sees what was left out and why.
      records.push_back(
          {"skipped", s.id.to_string(), nlohmann::json{{"reason", s.skipped}}.dump(), {}});
      continue;
    }
    records.push_back({"actor", actor_record_name(*s.creation, ctx_.config.name_space),
                       actor_record_meta(*s.creation, *f, ctx_.config.name_space), s.state.span()});
  }
  for (const auto& o : extra) {
    records.push_back(
        {o.kind, o.name, o.meta, o.bytes ? o.bytes->span() : std::span<const std::byte>{}});
  }
  const std::int64_t saved_at = now_us();
  if (hooks_.timeline)
    hooks_.timeline->record("checkpoint: hold and save actors", {}, start, saved_at);
  spill::CheckpointWritten written;
  try {
    written = write_collectively(dir, records, local_error);
  } catch (...) {
    actors_.resume_calls();
    throw;
  }
  actors_.resume_calls();
  if (hooks_.timeline) hooks_.timeline->record("checkpoint: write", {}, saved_at, now_us());
  log().info(
      "checkpoint {}: this rank saved {} records in {:.3f} s and wrote them in {:.3f} s (the "
      "file's collective write {:.3f} s)",
      written.path, records.size(), static_cast<double>(saved_at - start) / 1e6,
      static_cast<double>(now_us() - saved_at) / 1e6, written.seconds);
  return written;
}

spill::CheckpointWritten Checkpoints::write_collectively(
    const std::string& dir, const std::vector<spill::CheckpointRecord>& records,
    const std::string& local_error) {
  if (!hooks_.try_with_mpi || !hooks_.run_file_work || hooks_.comm == MPI_COMM_NULL) {
    throw spill::CheckpointError("checkpoints need the MPI runtime (this engine has none)");
  }
  std::promise<spill::CheckpointWritten> result;
  auto future = result.get_future();
  hooks_.run_file_work([&] {
    struct Polled {
      const Hooks& hooks;
      explicit Polled(const Hooks& h) : hooks(h) {
        if (hooks.polling) hooks.polling(true);
      }
      ~Polled() {
        if (hooks.polling) hooks.polling(false);
      }
    } polled{hooks_};
    try {
      // Meet every rank without holding MPI, so this rank's messages keep moving meanwhile.
      MPI_Request barrier = MPI_REQUEST_NULL;
      bool posted = false;
      auto last_note = std::chrono::steady_clock::now();
      while (!hooks_.try_with_mpi([&] {
        if (!posted) {
          MPI_Ibarrier(hooks_.comm, &barrier);
          posted = true;
        }
        int done = 0;
        MPI_Test(&barrier, &done, MPI_STATUS_IGNORE);
        return done != 0;
      })) {
        if (ctx_.stopping)
          throw spill::CheckpointError("the runtime stopped during the checkpoint");
        if (std::chrono::steady_clock::now() - last_note > std::chrono::seconds(10)) {
          log().warn("checkpoint {}: waiting for the other ranks to be ready to write", dir);
          last_note = std::chrono::steady_clock::now();
        }
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
      // Every rank is here: the collective write, with MPI held until it returns.
      std::exception_ptr failure;
      spill::CheckpointWritten written;
      while (!hooks_.try_with_mpi([&] {
        try {
          written = spill::write_checkpoint(hooks_.comm, dir, program_name(ctx_.config.program),
                                            fingerprint(), records, local_error);
        } catch (...) {
          failure = std::current_exception();
        }
        return true;
      })) {
        if (ctx_.stopping)
          throw spill::CheckpointError("the runtime stopped during the checkpoint");
        std::this_thread::yield();
      }
      if (failure) std::rethrow_exception(failure);
      result.set_value(std::move(written));
    } catch (...) {
      result.set_exception(std::current_exception());
    }
  });
  return future.get();
}

}  // namespace manta::engine
