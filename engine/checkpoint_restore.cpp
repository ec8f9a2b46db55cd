#include "engine/checkpoint_restore.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "engine/checkpoint_records.h"
#include "engine/checkpoints.h"
#include "engine/engine_parts.h"
#include "engine/function_table.h"
#include "engine/log.h"

namespace manta::engine {

namespace {

/// The reason of the lowest rank that has one, on every rank ("" when none has).
std::string first_error(MPI_Comm comm, const std::string& mine) {
  int rank = 0;
  int size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int failing = mine.empty() ? size : rank;
  int first = size;
  MPI_Allreduce(&failing, &first, 1, MPI_INT, MPI_MIN, comm);
  if (first == size) return {};
  std::string text = mine;
  int length = static_cast<int>(text.size());
  MPI_Bcast(&length, 1, MPI_INT, first, comm);
  text.resize(static_cast<std::size_t>(length));
  MPI_Bcast(text.data(), length, MPI_CHAR, first, comm);
  return text;
}

/// The type tag and name a kept object's or the driver state's meta records.
std::pair<std::uint64_t, std::string> typed_meta(const spill::CheckpointEntry& e) {
  try {
    const auto meta = nlohmann::json::parse(e.meta);
    return {meta.at("tag").get<std::uint64_t>(), meta.at("type").get<std::string>()};
  } catch (const std::exception& ex) {
    throw std::runtime_error(
        fmt::format("the record of {} '{}' is not readable: {}", e.kind, e.name, ex.what()));
  }
}

/// Why this program cannot restore the checkpoint's actors, or "".
std::string check_actors(const spill::CheckpointManifest& m) {
  for (const auto& e : m.entries) {
    if (e.kind != "actor") continue;
    const ActorRecord r = parse_actor_record(e);
    const detail::FunctionEntry* f = FunctionTable::instance().named(r.factory);
    if (!f || !f->is_factory) {
      return fmt::format(
          "actor '{}' was made by {}, which this program does not register "
          "(MANTA_REMOTE); was the checkpoint written by another version?",
          e.name, r.factory);
    }
    if (!f->load_state) {
      return fmt::format(
          "actor '{}' is a {}, which is not checkpointable in this program (it "
          "needs save/load or serialize, and a default constructor)",
          e.name, f->class_name);
    }
  }
  return {};
}

}  // namespace

spill::CheckpointManifest check_restore(MPI_Comm comm, const std::string& dir,
                                        const std::string& program) {
  spill::CheckpointManifest m;
  std::string why;
  try {
    m = spill::read_checkpoint_manifest(dir);
    if (m.program != program) {
      why = fmt::format(
          "{} was written by the program '{}', not by '{}'; restore it with the "
          "program that wrote it",
          spill::checkpoint_path(dir), m.program, program);
    } else {
      why = check_actors(m);
      if (why.empty() && m.fingerprint != Checkpoints::fingerprint()) {
        log().warn("{}: the program's registered functions changed since the checkpoint",
                   spill::checkpoint_path(dir));
      }
    }
  } catch (const std::exception& e) {
    why = e.what();
  }
  why = first_error(comm, why);
  if (why.empty()) why = spill::verify_checkpoint(comm, dir, m);
  if (!why.empty()) throw std::runtime_error(why);
  return m;
}

Restored restore(EngineParts& parts, const spill::CheckpointManifest& m, const std::string& dir) {
  Restored out;
  out.dir = dir;
  for (const auto& e : m.entries) {
    if (e.kind == "actor") {
      const ActorRecord r = parse_actor_record(e);
      const detail::FunctionEntry* f = FunctionTable::instance().named(r.factory);
      detail::Submission s;
      s.function = f;
      add_restore_argument(s, RestoreSource{dir, m.data_address, m.data_bytes, e});
      parts.routing.create_actor(std::move(s), r.options, f->class_tag);
      out.actors.push_back(e.name);
    } else if (e.kind == "object") {
      const auto [tag, type] = typed_meta(e);
      SharedBuffer bytes = spill::read_checkpoint_entry(dir, m, e);
      out.objects[e.name] = {parts.objects.put(std::move(bytes), tag, {}), tag};
      out.object_types[e.name] = type;
    } else if (e.kind == "driver") {
      const auto [tag, type] = typed_meta(e);
      out.driver_state.emplace(spill::read_checkpoint_entry(dir, m, e), tag);
    } else if (e.kind == "skipped") {
      log().info("{}: not in the checkpoint: {}", spill::checkpoint_path(dir), e.meta);
    }
  }
  log().info("restored from {}: {} actors, {} objects{}", spill::checkpoint_path(dir),
             out.actors.size(), out.objects.size(), out.driver_state ? ", the driver's state" : "");
  return out;
}

}  // namespace manta::engine
