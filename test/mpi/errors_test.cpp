// Failures reach get as typed errors naming rank, task and cause; none crash or hang the job.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include <manta/manta.h>

namespace {

int boom(int x) {
  if (x >= 0) throw std::invalid_argument("bad input " + std::to_string(x));
  return x;
}
int add(int a, int b) { return a + b; }
int not_registered(int x) { return x; }
int throws_int() { throw 42; }

// Writes an int but reads a string back: a broken serialize. (The string member makes the type
// go through Boost; trivially copyable types travel as raw bytes.)
struct Broken {
  int v = 0;
  std::string label;
  template <class A>
  void save(A& ar, unsigned) const {
    ar& v;
  }
  template <class A>
  void load(A& ar, unsigned) {
    std::string s;
    std::vector<std::string> more;
    ar& s& more;
  }
  BOOST_SERIALIZATION_SPLIT_MEMBER()
};
int use_broken(Broken b) { return b.v; }
Broken make_broken() { return Broken{7, "x"}; }

}  // namespace

MANTA_REMOTE(boom, add, throws_int, use_broken, make_broken);

TEST(Errors, TaskErrorCarriesTypeMessageRankAndTask) {
  for (int r = 0; r < manta::world_size(); ++r) {
    auto ref = manta::task(boom).on_rank(r).remote(3);
    try {
      manta::get(ref);
      FAIL() << "expected TaskError";
    } catch (const manta::TaskError& e) {
      EXPECT_EQ(e.rank(), r);
      EXPECT_EQ(e.task_name(), "boom");
      EXPECT_EQ(e.exception_type(), "std::invalid_argument");
      EXPECT_EQ(e.cause(), "bad input 3");
      const std::string what = e.what();
      EXPECT_NE(what.find("bad input 3"), std::string::npos) << what;
      EXPECT_NE(what.find("rank " + std::to_string(r)), std::string::npos) << what;
    }
  }
}

TEST(Errors, DependentsFailWithTheSameCause) {
  const int last = manta::world_size() - 1;
  auto bad = manta::task(boom).on_rank(last).remote(5);
  auto child = manta::task(add).remote(bad, 1);
  auto grandchild = manta::task(add).on_rank(0).remote(child, child);
  for (auto* r : {&child, &grandchild}) {
    try {
      manta::get(*r);
      FAIL() << "expected TaskError";
    } catch (const manta::TaskError& e) {
      EXPECT_EQ(e.cause(), "bad input 5");
      EXPECT_EQ(e.task_name(), "boom");
      EXPECT_EQ(e.rank(), last);
    }
  }
}

TEST(Errors, NonStdException) {
  try {
    manta::get(manta::task(throws_int).remote());
    FAIL();
  } catch (const manta::TaskError& e) {
    EXPECT_EQ(e.exception_type(), "unknown");
  }
}

// As in Ray: the error comes where the call is written, before any argument is encoded.
TEST(Errors, UnregisteredFunctionFailsWhenTheBuilderIsMade) {
  EXPECT_THROW(manta::task(not_registered), manta::UnregisteredFunctionError);
}

TEST(Errors, UnregisteredFunction) {
  try {
    manta::task(not_registered).remote(1);
    FAIL() << "expected UnregisteredFunctionError";
  } catch (const manta::UnregisteredFunctionError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("not registered"), std::string::npos) << what;
    EXPECT_NE(what.find("MANTA_REMOTE"), std::string::npos) << what;
    EXPECT_NE(what.find("int (*)(int)"), std::string::npos) << what;
  }
}

TEST(Errors, SerializationErrorInArgument) {
  const int last = manta::world_size() - 1;
  try {
    manta::get(manta::task(use_broken).on_rank(last).remote(Broken{3, "y"}));
    FAIL() << "expected SerializationError";
  } catch (const manta::SerializationError& e) {
    EXPECT_EQ(e.task_name(), "use_broken");
    EXPECT_NE(std::string(e.what()).find("Broken"), std::string::npos) << e.what();
  }
}

TEST(Errors, SerializationErrorInResult) {
  const int last = manta::world_size() - 1;
  auto ref = manta::task(make_broken).on_rank(last).remote();
  EXPECT_THROW(manta::get(ref), manta::SerializationError);
}

TEST(Errors, UnschedulableTasksFailClearly) {
  try {
    manta::get(manta::task(add).resources({{"CPU", 4096}}).remote(1, 2));
    FAIL();
  } catch (const manta::UnschedulableError& e) {
    EXPECT_NE(std::string(e.what()).find("no rank offers"), std::string::npos) << e.what();
  }
  EXPECT_THROW(manta::get(manta::task(add).resources({{"TPU", 1}}).remote(1, 2)),
               manta::UnschedulableError);
  // A rank the job does not have is refused at submission (see misuse_test.cpp).
  try {
    (void)manta::task(add).on_rank(manta::world_size()).remote(1, 2);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("the job has"), std::string::npos) << e.what();
  }
}

TEST(Errors, ClusterStillWorksAfterErrors) {
  for (int r = 0; r < manta::world_size(); ++r) {
    EXPECT_EQ(*manta::get(manta::task(add).on_rank(r).remote(r, 1)), r + 1);
  }
}
