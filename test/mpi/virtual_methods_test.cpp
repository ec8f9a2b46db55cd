// Actors with virtual methods: an override and its base method, and unrelated classes whose
// virtual methods sit in the same vtable slot, are distinct functions (a pointer to a virtual
// method holds only its slot). A base-class method called on a derived actor dispatches
// virtually, also where the base is not the first one (its `this` differs from the instance's).
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include <manta/manta.h>

namespace {

constexpr auto kLimit = std::chrono::seconds(60);

template <class T>
T value(const manta::ObjectRef<T>& ref) {
  return *manta::get(ref, kLimit);
}

struct Animal {
  virtual ~Animal() = default;
  virtual std::string speak(int times) const {
    std::string s;
    for (int i = 0; i < times; ++i) s += "...";
    return s;
  }
  virtual int legs() const { return 0; }
};

struct Dog : Animal {
  static Dog* create(std::string name) {
    auto* d = new Dog;
    d->name = std::move(name);
    return d;
  }
  std::string speak(int times) const override {
    std::string s = name + ":";
    for (int i = 0; i < times; ++i) s += " woof";
    return s;
  }
  int legs() const override { return 4; }
  std::string name;
};

// Animal is the second base: a Robot* and the Animal* inside it are different addresses.
struct Serial {
  virtual ~Serial() = default;
  virtual long serial() const { return number; }
  long number = 1000;
};
struct Robot : Serial, Animal {
  static Robot* create(long number) {
    auto* r = new Robot;
    r->number = number;
    return r;
  }
  std::string speak(int times) const override { return "beep x" + std::to_string(times); }
  int legs() const override { return 6; }
  long serial() const override { return number + 1; }
};

// Two unrelated classes: their first virtual methods have the same pointer bytes.
struct Pump {
  static Pump* create(int rate) {
    auto* p = new Pump;
    p->rate = rate;
    return p;
  }
  virtual ~Pump() = default;
  virtual int flow() { return rate * 10; }
  int rate = 0;
};
struct Valve {
  static Valve* create(int open) {
    auto* v = new Valve;
    v->open = open;
    return v;
  }
  virtual ~Valve() = default;
  virtual int opening() { return open + 1; }
  int open = 0;
};

// Only the override is registered: a call through the base's pointer finds it.
struct Shape {
  virtual ~Shape() = default;
  virtual int sides() const { return 0; }
};
struct Triangle : Shape {
  static Triangle* create() { return new Triangle; }
  int sides() const override { return 3; }
};

}  // namespace

MANTA_REMOTE(Triangle::create, &Triangle::sides);
MANTA_REMOTE(Dog::create, Robot::create, Pump::create, Valve::create, &Animal::speak, &Animal::legs,
             &Dog::speak, &Dog::legs, &Robot::speak, &Robot::legs, &Serial::serial, &Robot::serial,
             &Pump::flow, &Valve::opening);

TEST(VirtualMethods, OverrideAndBaseMethodAreBothCallable) {
  for (int r = 0; r < manta::world_size(); ++r) {
    auto dog = manta::actor(Dog::create).on_rank(r).remote(std::string("rex"));
    EXPECT_EQ(value(dog.task(&Dog::speak).remote(2)), "rex: woof woof");
    EXPECT_EQ(value(dog.task(&Dog::legs).remote()), 4);
    // The base method on the derived actor runs the override.
    EXPECT_EQ(value(dog.task(&Animal::speak).remote(1)), "rex: woof");
    EXPECT_EQ(value(dog.task(&Animal::legs).remote()), 4);
    dog.kill();
  }
}

TEST(VirtualMethods, BaseMethodOnActorWhoseBaseIsNotTheFirst) {
  for (int r = 0; r < manta::world_size(); ++r) {
    auto robot = manta::actor(Robot::create).on_rank(r).remote(41L);
    EXPECT_EQ(value(robot.task(&Animal::speak).remote(3)), "beep x3");
    EXPECT_EQ(value(robot.task(&Animal::legs).remote()), 6);
    EXPECT_EQ(value(robot.task(&Serial::serial).remote()), 42);
    EXPECT_EQ(value(robot.task(&Robot::speak).remote(2)), "beep x2");
    EXPECT_EQ(value(robot.task(&Robot::serial).remote()), 42);
    robot.kill();
  }
}

TEST(VirtualMethods, UnrelatedClassesWithMethodsInTheSameSlot) {
  const int last = manta::world_size() - 1;
  auto pump = manta::actor(Pump::create).on_rank(last).remote(3);
  auto valve = manta::actor(Valve::create).on_rank(0).remote(7);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(value(pump.task(&Pump::flow).remote()), 30);
    EXPECT_EQ(value(valve.task(&Valve::opening).remote()), 8);
  }
  pump.kill();
  valve.kill();
}

TEST(VirtualMethods, BaseMethodFindsTheOverrideRegisteredAlone) {
  auto tri = manta::actor(Triangle::create).on_rank(manta::world_size() - 1).remote();
  EXPECT_EQ(value(tri.task(&Shape::sides).remote()), 3);
  EXPECT_EQ(value(tri.task(&Triangle::sides).remote()), 3);
  tri.kill();
}
