// Thousands of actors with the default settings, each called and checked; and what happens when
// an explicit actor limit is reached: creations wait (named ones return), start when an actor
// ends, and a waiting one can be killed. The SmallActorLimit tests expect --manta-max-actors=2.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <manta/manta.h>

namespace {

struct Cell {
  static Cell* create(int v) { return new Cell{v}; }
  int add(int d) { return value += d; }
  int where() { return manta::rank(); }
  // Waits until `all` askers hold a thread each, then blocks in get on another actor's call:
  // the pool must give that call a thread too.
  int ask(manta::ActorHandle<Cell> other, int all);
  int value;
};

std::atomic<int> g_arrived{0};  // askers running now (all on rank 0, the driver's process)

int Cell::ask(manta::ActorHandle<Cell> other, int all) {
  ++g_arrived;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (g_arrived.load() < all && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return *manta::get(other.task(&Cell::add).remote(1));
}

constexpr auto kLong = std::chrono::seconds(120);

}  // namespace

MANTA_REMOTE(Cell::create, &Cell::add, &Cell::where, &Cell::ask);

// Far more actors than the old limit of 64 per rank (256 on 4 ranks), each with its own state.
TEST(ManyActors, TwoThousandFiveHundredActorsEachCalledTwice) {
  constexpr int kActors = 2500;
  std::vector<manta::ActorHandle<Cell>> cells;
  cells.reserve(kActors);
  for (int i = 0; i < kActors; ++i) cells.push_back(manta::actor(Cell::create).remote(i));
  for (int round = 1; round <= 2; ++round) {
    std::vector<manta::ObjectRef<int>> refs;
    refs.reserve(kActors);
    for (auto& c : cells) refs.push_back(c.task(&Cell::add).remote(1000));
    auto values = manta::get(refs, kLong);
    for (int i = 0; i < kActors; ++i) {
      ASSERT_EQ(*values[static_cast<std::size_t>(i)], i + 1000 * round) << "actor " << i;
    }
  }
  // They spread over the ranks.
  std::vector<manta::ObjectRef<int>> where;
  for (auto& c : cells) where.push_back(c.task(&Cell::where).remote());
  std::map<int, int> per_rank;
  for (auto& r : manta::get(where, kLong)) ++per_rank[*r];
  EXPECT_EQ(per_rank.size(), static_cast<std::size_t>(manta::world_size()));
  for (auto& c : cells) c.kill();
}

// More actor calls held at once than the pool's threads start without waiting (64, or 16 per
// CPU), each then blocked in get on a call to another actor: the pool must grow past its size
// for all of them to run and finish.
TEST(ManyActors, BlockedCallsBeyondThePoolSizeFinish) {
  constexpr int kPairs = 300;
  g_arrived = 0;
  std::vector<manta::ActorHandle<Cell>> askers, answerers;
  for (int i = 0; i < kPairs; ++i) {
    askers.push_back(manta::actor(Cell::create).on_rank(0).remote(0));
    answerers.push_back(manta::actor(Cell::create).on_rank(0).remote(i));
  }
  std::vector<manta::ObjectRef<int>> refs;
  for (int i = 0; i < kPairs; ++i) {
    refs.push_back(askers[static_cast<std::size_t>(i)]
                       .task(&Cell::ask)
                       .remote(answerers[static_cast<std::size_t>(i)], kPairs));
  }
  auto values = manta::get(refs, kLong);
  for (int i = 0; i < kPairs; ++i) EXPECT_EQ(*values[static_cast<std::size_t>(i)], i + 1);
  for (auto& c : askers) c.kill();
  for (auto& c : answerers) c.kill();
}

// Run with --manta-max-actors=2: every rank full, the next creation waits for a slot.
TEST(SmallActorLimit, CreationWaitsForASlotAndStartsWhenOneEnds) {
  const int slots = 2 * manta::world_size();
  std::vector<manta::ActorHandle<Cell>> cells;
  for (int i = 0; i < slots; ++i) cells.push_back(manta::actor(Cell::create).remote(i));
  std::vector<manta::ObjectRef<int>> refs;
  for (auto& c : cells) refs.push_back(c.task(&Cell::add).remote(1));
  for (int i = 0; i < slots; ++i) EXPECT_EQ(*manta::get(refs[static_cast<std::size_t>(i)]), i + 1);

  auto extra = manta::actor(Cell::create).remote(100);
  auto call = extra.task(&Cell::add).remote(1);
  EXPECT_THROW(manta::get(call, std::chrono::seconds(2)), manta::GetTimeoutError)
      << "the creation beyond the limit must wait for a slot";
  // A named creation returns at once (the name is taken) although it waits for a slot too.
  const auto t0 = std::chrono::steady_clock::now();
  auto named = manta::actor(Cell::create).name("late").remote(200);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_THROW(manta::actor(Cell::create).name("late").remote(0), std::invalid_argument);
  // A waiting creation can be killed: it never starts, its calls fail.
  auto doomed = manta::actor(Cell::create).remote(300);
  auto doomed_call = doomed.task(&Cell::add).remote(1);
  doomed.kill();
  EXPECT_THROW(manta::get(doomed_call, kLong), manta::ActorDiedError);

  cells[0].kill();  // a slot frees: the first waiting creation starts
  EXPECT_EQ(*manta::get(call, kLong), 101);
  cells[1].kill();  // and the next
  auto late = manta::get_actor<Cell>("late");
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(*manta::get(late->task(&Cell::add).remote(1), kLong), 201);
  extra.kill();
  named.kill();
  for (std::size_t i = 2; i < cells.size(); ++i) cells[i].kill();
}
