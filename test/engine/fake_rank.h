// What every part of one rank's engine shares (RankContext), over the fake outbox and data
// plane, with a dispatcher for the handlers of the parts a test builds on it. Tests build the
// parts they need on top and drive them by delivering messages.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <manta/errors.h>
#include <manta/ids.h>

#include "engine/config.h"
#include "engine/dispatcher.h"
#include "engine/object_store.h"
#include "engine/rank_context.h"
#include "engine/resources.h"
#include "engine/task_spec.h"
#include "fake_data_plane.h"
#include "fake_outbox.h"

namespace manta::engine::fakes {

struct FakeRank {
  FakeRank(int rank, int size) : store(rank), ctx(rank, size, config, store, outbox) {}

  /// Hands a message to this rank's dispatcher as if `source` had sent it.
  template <class Fill>
  void deliver(int source, Fill&& fill) {
    fakes::deliver(dispatcher, source, fill);
  }
  void deliver(int source, const SentMessage& m) {
    fakes::deliver(dispatcher, source, std::span<const std::byte>(m.bytes));
  }

  Config config;  // change before building parts that read it
  ObjectStore store;
  FakeOutbox outbox;
  FakeDataPlane plane;
  RankContext ctx;
  Dispatcher dispatcher;
};

/// A plain task submitted by `submitter` (its return object is {submitter, 0, seq}).
inline TaskPtr make_task(int submitter, std::uint64_t seq,
                         ResourceSet resources = ResourceSet::cpus(1), std::string name = "work") {
  auto t = std::make_shared<TaskSpec>();
  t->id = {submitter, seq};
  t->name = std::move(name);
  t->resources = std::make_shared<const ResourceSet>(std::move(resources));
  return t;
}

inline ErrorInfo error_of(ErrorKind kind, std::string message, int rank = 1) {
  ErrorInfo e;
  e.kind = kind;
  e.rank = rank;
  e.message = std::move(message);
  return e;
}

}  // namespace manta::engine::fakes
