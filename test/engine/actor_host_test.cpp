// The actor host on its own, without MPI: calls from one caller run in that caller's order even
// when they arrive out of order, and every call that reaches a dead actor fails, in any order.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <manta/detail/function_registry.h>
#include <manta/errors.h>

#include "engine/actor_host.h"
#include "engine/function_table.h"
#include "engine/task_spec.h"

namespace {

struct Tally {
  static Tally* create() { return new Tally; }
  int add() { return ++n; }
  int n = 0;
};

}  // namespace

MANTA_REMOTE(Tally::create, &Tally::add);

namespace {

using namespace std::chrono_literals;
using manta::ErrorInfo;
using manta::ErrorKind;
using manta::engine::ActorHost;
using manta::engine::FunctionTable;
using manta::engine::ResourceSet;
using manta::engine::TaskKind;
using manta::engine::TaskPtr;
using manta::engine::TaskSpec;

template <class F>
std::uint32_t index_of(F f) {
  FunctionTable::instance().seal();
  const auto* entry = FunctionTable::instance().find(manta::detail::key_of(f));
  if (!entry) throw std::logic_error("not registered");
  return entry->index;
}

class ActorHostTest : public ::testing::Test {
 protected:
  ActorHostTest() {
    ActorHost::Hooks hooks;
    hooks.finish = [this](const TaskPtr& call, manta::detail::CallResult&&,
                          std::shared_ptr<const ErrorInfo> error) {
      std::lock_guard lock(mutex_);
      outcomes_[call->id.seq] = error ? error->kind : ErrorKind{};
      order_.push_back(call->id.seq);
      cv_.notify_all();
    };
    hooks.died = [](const manta::ActorId&, std::shared_ptr<const ErrorInfo>) {};
    hooks.reserve = [](const ResourceSet&, const std::vector<int>&) {};
    hooks.release = [](const ResourceSet&, const std::vector<int>&) {};
    hooks.make_error = [](ErrorKind kind, const TaskSpec*, std::string message) {
      ErrorInfo info;
      info.kind = kind;
      info.message = std::move(message);
      return info;
    };
    host_ = std::make_unique<ActorHost>(std::move(hooks));
    auto creation = std::make_shared<TaskSpec>();
    creation->id = {0, next_task_++};
    creation->kind = TaskKind::actor_creation;
    creation->actor = kActor;
    creation->function = index_of(Tally::create);
    creation->class_tag = FunctionTable::instance().at(creation->function)->class_tag;
    host_->create(creation, {});
  }

  // Call number `seq` of rank `caller` to the actor; the task's own number identifies it.
  std::uint64_t deliver(int caller, std::uint64_t seq) {
    auto call = std::make_shared<TaskSpec>();
    call->id = {caller, next_task_++};
    call->kind = TaskKind::actor_call;
    call->actor = kActor;
    call->caller = caller;
    call->actor_seq = seq;
    call->function = index_of(&Tally::add);
    host_->deliver(call);
    return call->id.seq;
  }

  // How the call ended: ErrorKind{} for an answer; nothing if it has not ended within 5 s.
  std::optional<ErrorKind> outcome(std::uint64_t task) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, 5s, [&] { return outcomes_.count(task) > 0; })) return std::nullopt;
    return outcomes_[task];
  }

  std::vector<std::uint64_t> order() {
    std::lock_guard lock(mutex_);
    return order_;
  }

  const manta::ActorId kActor{0, 0, 1};
  std::uint64_t next_task_ = 1;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::uint64_t, ErrorKind> outcomes_;
  std::vector<std::uint64_t> order_;
  std::unique_ptr<ActorHost> host_;  // last: it stops (and joins its threads) first
};

TEST_F(ActorHostTest, CallsRunInTheirCallersOrderWhateverOrderTheyArriveIn) {
  const auto third = deliver(1, 2);
  const auto second = deliver(1, 1);
  const auto first = deliver(1, 0);
  for (auto t : {first, second, third}) ASSERT_EQ(outcome(t), ErrorKind{}) << "call " << t;
  EXPECT_EQ(order(), (std::vector<std::uint64_t>{first, second, third}));
}

// A caller's calls can reach the host after the actor died with gaps in their numbers that will
// never fill: calls that were held for their turn failed at the death, and a caller whose own
// kill() ended the actor fails the calls it had not sent yet itself. Each later call must still
// fail at once instead of waiting for its turn forever.
TEST_F(ActorHostTest, CallsThatReachADeadActorFailWhateverTheirNumber) {
  ASSERT_EQ(outcome(deliver(1, 0)), ErrorKind{}) << "the actor did not answer at all";
  // Rank 2's calls 1 and 2 wait for call 0, which is still on its way (fetching an argument).
  const auto held_1 = deliver(2, 1);
  const auto held_2 = deliver(2, 2);
  host_->kill(kActor, /*no_restart=*/true);
  EXPECT_EQ(outcome(held_1), ErrorKind::actor_died);
  EXPECT_EQ(outcome(held_2), ErrorKind::actor_died);
  // Call 0 arrives: it fails, and calls 1 and 2 are gone, so the next number stays at 1.
  EXPECT_EQ(outcome(deliver(2, 0)), ErrorKind::actor_died);
  EXPECT_EQ(outcome(deliver(2, 3)), ErrorKind::actor_died) << "call 3 waits for call 1 forever";
  EXPECT_EQ(outcome(deliver(2, 7)), ErrorKind::actor_died) << "call 7 waits for call 1 forever";
  // A caller the actor never heard from, starting past 0 (its first calls failed at home).
  EXPECT_EQ(outcome(deliver(3, 4)), ErrorKind::actor_died);
}

}  // namespace
