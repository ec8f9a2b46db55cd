// The checkpoint entry points of the public API (include/manta/checkpoint.h): what the driver
// registers (kept objects, its state), checkpoint and checkpoint_point, and what a restored job
// gets back.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include <manta/checkpoint.h>
#include <manta/init.h>

#include "engine/checkpoint_restore.h"
#include "engine/crash_report.h"
#include "engine/log.h"
#include "engine/runtime.h"

namespace manta {
namespace {

struct Kept {
  std::shared_ptr<detail::RefToken> token;
  std::uint64_t tag = 0;
  std::string type;
};

/// What the driver registered, and what its job was restored from. Driver only, but guarded:
/// a driver may use several threads.
struct DriverCheckpoints {
  std::mutex mutex;
  std::map<std::string, Kept> kept;
  std::function<void(Buffer&)> save_state;
  std::uint64_t state_tag = 0;
  engine::Restored restored;
  bool was_restored = false;
  std::mutex taking;  // one checkpoint at a time
};

DriverCheckpoints& driver() {
  static auto* d = new DriverCheckpoints;  // outlives static destructors that drop refs
  return *d;
}

[[noreturn]] void fail(const std::string& message) {
  ErrorInfo info;
  info.kind = ErrorKind::checkpoint;
  info.rank = manta::rank();
  info.message = message;
  throw CheckpointError(std::move(info));
}

engine::Runtime& driver_runtime(const char* what) {
  engine::Runtime* r = engine::Runtime::instance();
  if (!r || !r->is_open()) {
    throw std::logic_error(fmt::format("{}: Manta is not running (call manta::init first)", what));
  }
  if (r->rank() != 0 || engine::RunningCallScope::current_actor().valid() ||
      !engine::RunningCallScope::current_function().empty()) {
    throw std::logic_error(
        fmt::format("{} is for the driver (rank 0's main), not for tasks or actor methods", what));
  }
  return *r;
}

std::string typed_meta(std::uint64_t tag, const std::string& type) {
  return nlohmann::json{{"tag", tag}, {"type", type}}.dump();
}

}  // namespace

namespace engine {
void set_restored(Restored restored) {
  auto& d = driver();
  std::lock_guard lock(d.mutex);
  for (const auto& [name, obj] : restored.objects) {
    d.kept[name] = {obj.first, obj.second, restored.object_types[name]};  // kept again by default
  }
  d.restored = std::move(restored);
  d.was_restored = true;
}
}  // namespace engine

namespace detail {

void keep_object(const std::string& name, std::shared_ptr<RefToken> ref, std::uint64_t tag,
                 std::string type_name) {
  driver_runtime("manta::keep_in_checkpoint");
  if (name.empty()) throw std::invalid_argument("manta::keep_in_checkpoint: the name is empty");
  auto& d = driver();
  std::lock_guard lock(d.mutex);
  if (!ref) {
    d.kept.erase(name);  // an empty ref stops keeping the name
    return;
  }
  d.kept[name] = {std::move(ref), tag, std::move(type_name)};
}

void set_driver_state(std::function<void(Buffer& out)> save, std::uint64_t tag) {
  driver_runtime("manta::on_checkpoint");
  auto& d = driver();
  std::lock_guard lock(d.mutex);
  d.save_state = std::move(save);
  d.state_tag = tag;
}

std::optional<std::pair<SharedBuffer, std::uint64_t>> restored_driver_state() {
  auto& d = driver();
  std::lock_guard lock(d.mutex);
  return d.restored.driver_state;
}

std::pair<std::shared_ptr<RefToken>, std::uint64_t> restored_object(const std::string& name) {
  auto& d = driver();
  std::lock_guard lock(d.mutex);
  auto it = d.restored.objects.find(name);
  if (it == d.restored.objects.end()) {
    std::string there;
    for (const auto& [n, o] : d.restored.objects) there += (there.empty() ? "" : ", ") + n;
    throw std::out_of_range(fmt::format(
        "manta::restored_object: no object '{}' in {}: {}", name,
        d.was_restored ? "the checkpoint this job started from" : "this job (not restored)",
        there.empty() ? "it holds none" : "it holds " + there));
  }
  return it->second;
}

CheckpointInfo take_checkpoint(const std::string& dir) {
  engine::Runtime& r = driver_runtime("manta::checkpoint");
  if (dir.empty()) throw std::invalid_argument("manta::checkpoint: the directory is empty");
  auto& d = driver();
  std::lock_guard taking(d.taking);
  const auto start = std::chrono::steady_clock::now();
  std::map<std::string, Kept> kept;
  std::function<void(Buffer&)> save_state;
  std::uint64_t state_tag = 0;
  {
    std::lock_guard lock(d.mutex);
    kept = d.kept;
    save_state = d.save_state;
    state_tag = d.state_tag;
  }
  std::vector<engine::Checkpoints::OwnedRecord> extra;
  CheckpointInfo info;
  for (const auto& [name, k] : kept) {
    StoredValue v;
    try {
      v = r.parts().objects.get(k.token->id(), std::nullopt);
    } catch (const Error& e) {
      fail(fmt::format("the object kept as '{}' cannot be read: {}", name, e.what()));
    }
    extra.push_back({"object", name, typed_meta(v.tag, k.type), v.bytes});
    info.objects.push_back(name);
  }
  if (save_state) {
    auto bytes = std::make_shared<Buffer>();
    try {
      save_state(*bytes);
    } catch (const std::exception& e) {
      fail(fmt::format("the driver's state (manta::on_checkpoint) could not be saved: {}",
                       e.what()));
    }
    extra.push_back(
        {"driver", "driver", typed_meta(state_tag, type_name_of_tag(state_tag)), std::move(bytes)});
    info.driver_state = true;
  }
  spill::CheckpointWritten written;
  try {
    written = r.parts().checkpoints.take(dir, std::move(extra));
  } catch (const std::exception& e) {
    fail(fmt::format("checkpoint in {} failed: {}", dir, e.what()));
  }
  info.path = written.path;
  info.bytes = written.bytes;
  for (const auto& e : written.manifest.entries) {
    if (e.kind == "actor") info.actors.push_back(e.name);
    if (e.kind == "skipped") {
      info.skipped.push_back(nlohmann::json::parse(e.meta).value("reason", e.name));
    }
  }
  info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  engine::log().info("checkpoint {}: {} actors, {} objects, {} bytes in {:.3f} s", info.path,
                     info.actors.size(), info.objects.size(), info.bytes, info.seconds);
  return info;
}

}  // namespace detail

bool checkpoint_point() {
  if (!checkpoint_requested()) return false;
  engine::Runtime& r = driver_runtime("manta::checkpoint_point");
  const std::string dir = r.config().checkpoint_dir;
  if (dir.empty()) return true;  // no directory: the program saves what it needs itself
  const CheckpointInfo info = detail::take_checkpoint(dir);
  std::fprintf(stderr,
               "manta: checkpoint signal: %zu actors, %zu objects%s (%.1f MiB) written to %s in "
               "%.2f s; the job ends with exit code %d for the batch system to run it again "
               "with --manta-restore=%s\n",
               info.actors.size(), info.objects.size(),
               info.driver_state ? " and the driver's state" : "",
               static_cast<double>(info.bytes) / (1 << 20), info.path.c_str(), info.seconds,
               kCheckpointExitCode, dir.c_str());
  std::fflush(stderr);
  shutdown();
  std::exit(kCheckpointExitCode);
}

bool restored() noexcept {
  auto& d = driver();
  std::lock_guard lock(d.mutex);
  return d.was_restored;
}

std::string restored_from() {
  auto& d = driver();
  std::lock_guard lock(d.mutex);
  return d.restored.dir;
}

}  // namespace manta
