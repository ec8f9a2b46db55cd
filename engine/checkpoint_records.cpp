#include "engine/checkpoint_records.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

#include "engine/bundle_resources.h"
#include "transport/wire.h"

namespace manta::engine {

namespace {

// The tag of a restore argument: no user type has it (it is not a type's mangled-name hash).
constexpr std::uint64_t kRestoreTag = detail::fnv1a("manta: actor restored from a checkpoint");

}  // namespace

std::string actor_record_meta(const TaskSpec& creation, const detail::FunctionEntry& factory,
                              const std::string& job_namespace) {
  // An actor in a placement group asks under its bundle's names, group-wide and per bundle
  // (bundle_resources.h). The group is not in the checkpoint: keep what those names stand for,
  // once, so that the restored actor is placed by what it asked for.
  std::map<std::string, double> asked;
  if (creation.resources) {
    for (const auto& [name, amount] : creation.resources->items()) {
      if (name == "actor_slots") continue;  // added again at creation
      double& a = asked[base_resource(name)];
      a = std::max(a, amount);
    }
  }
  nlohmann::json resources = nlohmann::json::object();
  for (const auto& [name, amount] : asked) resources[name] = amount;
  nlohmann::json meta = {{"factory", factory.name},
                         {"class", factory.class_name},
                         {"max_restarts", creation.max_restarts_actor},
                         {"max_concurrency", creation.max_concurrency},
                         {"resources", resources}};
  if (!creation.actor_namespace.empty() && creation.actor_namespace != job_namespace) {
    meta["name"] = creation.actor_name;
    meta["namespace"] = creation.actor_namespace;
  }
  if (creation.env) meta["env"] = *creation.env;
  return meta.dump();
}

std::string actor_record_name(const TaskSpec& creation, const std::string& job_namespace) {
  if (creation.actor_namespace.empty() || creation.actor_namespace == job_namespace) {
    return creation.actor_name;
  }
  return creation.actor_namespace + "/" + creation.actor_name;
}

ActorRecord parse_actor_record(const spill::CheckpointEntry& entry) {
  try {
    const auto meta = nlohmann::json::parse(entry.meta);
    ActorRecord r;
    r.factory = meta.at("factory").get<std::string>();
    r.class_name = meta.at("class").get<std::string>();
    r.options.name = meta.value("name", entry.name);
    r.options.max_restarts = meta.at("max_restarts").get<int>();
    r.options.max_concurrency = meta.at("max_concurrency").get<int>();
    for (const auto& [name, amount] : meta.at("resources").items()) {
      r.options.resources[name] = amount.get<double>();
    }
    // Absent for actors of the writing job's namespace, and in older checkpoints.
    r.options.name_space = meta.value("namespace", std::string());
    if (meta.contains("env")) r.options.env = meta.at("env").get<EnvVars>();
    return r;
  } catch (const std::exception& e) {
    throw std::runtime_error(
        fmt::format("the record of actor '{}' is not readable: {}", entry.name, e.what()));
  }
}

std::optional<RestoreSource> restore_source(const TaskSpec& creation) {
  if (creation.args.size() != 1) return std::nullopt;
  const TaskArg& a = creation.args[0];
  if (a.is_ref || a.tag != kRestoreTag || !a.buffer) return std::nullopt;
  transport::WireReader r(std::span<const std::byte>(a.buffer->data() + a.offset, a.size));
  RestoreSource s;
  s.dir = r.str();
  s.data_address = r.get<std::uint64_t>();
  s.data_bytes = r.get<std::uint64_t>();
  s.entry.kind = r.str();
  s.entry.name = r.str();
  s.entry.rank = r.get<std::int32_t>();
  s.entry.offset = r.get<std::uint64_t>();
  s.entry.size = r.get<std::uint64_t>();
  s.entry.checksum = r.get<std::uint64_t>();
  return s;
}

void add_restore_argument(detail::Submission& s, const RestoreSource& source) {
  const std::size_t offset = s.inline_bytes.size();
  transport::WireWriter w(s.inline_bytes);
  w.str(source.dir).put(source.data_address).put(source.data_bytes);
  w.str(source.entry.kind).str(source.entry.name).put<std::int32_t>(source.entry.rank);
  w.put(source.entry.offset).put(source.entry.size).put(source.entry.checksum);
  detail::ArgSlot slot;
  slot.kind = detail::ArgSlot::Kind::inline_value;
  slot.tag = kRestoreTag;
  slot.offset = offset;
  slot.size = s.inline_bytes.size() - offset;
  s.args.push_back(std::move(slot));
}

void* load_from_checkpoint(const detail::FunctionEntry& factory, const RestoreSource& source) {
  if (!factory.load_state) {
    throw std::runtime_error(fmt::format(
        "actor '{}' cannot be restored: its class {} is not checkpointable in this program",
        source.entry.name, factory.class_name));
  }
  spill::CheckpointManifest where;
  where.data_address = source.data_address;
  where.data_bytes = source.data_bytes;
  SharedBuffer bytes;
  try {
    bytes = spill::read_checkpoint_entry(source.dir, where, source.entry);
  } catch (const spill::CheckpointError& e) {
    throw std::runtime_error(e.what());
  }
  try {
    return factory.load_state(bytes->data(), bytes->size());
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("loading the state of actor '{}' from {} failed: {}",
                                         source.entry.name, spill::checkpoint_path(source.dir),
                                         e.what()));
  }
}

}  // namespace manta::engine
