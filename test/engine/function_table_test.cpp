// The registry behind MANTA_REMOTE: name splitting, the sealed table, and calling an entry
// with encoded arguments.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <manta/buffer.h>
#include <manta/detail/function_registry.h>
#include <manta/errors.h>
#include <manta/serialization.h>

#include "engine/function_table.h"

namespace {

int add(int a, int b) { return a + b; }
int mul(int a, int b) { return a * b; }
double half(double x) { return x / 2; }
std::string describe(const std::string& name, const std::vector<double>& xs) {
  double sum = 0;
  for (double x : xs) sum += x;
  return name + ":" + std::to_string(xs.size()) + ":" + std::to_string(static_cast<int>(sum));
}
int g_side_effect = 0;
void touch(int v) { g_side_effect = v; }
int never_registered(int a) { return a; }

namespace ns {
int sub(int a, int b) { return a - b; }
}  // namespace ns

// Virtual methods: a pointer to one holds its vtable slot, the same for an override and for an
// unrelated class's method in the same slot.
struct Shape {
  virtual ~Shape() = default;
  virtual int sides() const { return 0; }
};
struct Square : Shape {
  int sides() const override { return 4; }
};
struct Engine {
  virtual ~Engine() = default;
  virtual int cylinders() const { return 6; }
};
// Shape is not its first base, so a Square2* and its Shape* differ in address.
struct Padding {
  virtual ~Padding() = default;
  long pad = 7;
};
struct Square2 : Padding, Shape {
  int sides() const override { return 40; }
};

}  // namespace

// Registered into the process-wide table; only Singleton.* looks at it.
MANTA_REMOTE(add, ns::sub);

namespace {

using manta::Buffer;
using manta::SerializationError;
using manta::detail::ArgView;
using manta::detail::CallResult;
using manta::detail::FunctionEntry;
using manta::detail::key_of;
using manta::detail::make_entry;
using manta::engine::FunctionTable;

ArgView view_of(const Buffer& b, std::uint64_t tag) { return ArgView{b.data(), b.size(), tag}; }

std::string logic_error_of_seal(FunctionTable& t) {
  try {
    t.seal();
  } catch (const std::logic_error& e) {
    return e.what();
  }
  return "seal did not throw";
}

TEST(SplitRegisteredNames, SplitsAtTopLevelCommasAndTrims) {
  const std::vector<std::string> expected = {"add", "ns::f", "C::m", "sum<int, 2>"};
  EXPECT_EQ(manta::detail::split_registered_names("add, ns::f, &C::m, sum<int, 2>"), expected);
  EXPECT_EQ(manta::detail::split_registered_names("one"), std::vector<std::string>{"one"});
  const std::vector<std::string> spaced = {"a", "b::c", "f(int, int)"};
  EXPECT_EQ(manta::detail::split_registered_names("  a ,\n b::c,f(int, int)  "), spaced);
}

// Each overload picked with MANTA_FUNC (or Ray's RAY_FUNC) gets its own name.
TEST(FunctionTable, OverloadsPickedByParameterTypesAreNamedByThem) {
  const std::vector<std::string> expected = {"area(double)", "area(double, double)", "ns::f()",
                                             "g(std::vector<int>, int)"};
  EXPECT_EQ(manta::detail::split_registered_names(
                "MANTA_FUNC(area, double), RAY_FUNC(area, double, double), MANTA_FUNC(ns::f),"
                " MANTA_FUNC( g , std::vector<int>, int )"),
            expected);
}

double area_of(double r) { return r * r; }
double area_of(double w, double h) { return w * h; }

TEST(FunctionTable, MantaFuncPicksTheOverloadWithThoseParameters) {
  auto one = MANTA_FUNC(area_of, double);
  auto two = MANTA_FUNC(area_of, double, double);
  EXPECT_DOUBLE_EQ(one(3.0), 9.0);
  EXPECT_DOUBLE_EQ(two(2.0, 5.0), 10.0);
  EXPECT_FALSE(key_of(one) == key_of(two));
}

TEST(FunctionTable, SealSortsByNameAndNumbersEntries) {
  FunctionTable t;
  t.add(make_entry("mul", &mul));
  t.add(make_entry("add", &add));
  t.add(make_entry("ns::sub", &ns::sub));
  t.add(make_entry("half", &half));
  EXPECT_FALSE(t.sealed());
  EXPECT_EQ(t.find(key_of(&add)), nullptr) << "find before seal";
  t.seal();
  ASSERT_TRUE(t.sealed());
  ASSERT_EQ(t.size(), 4u);
  const std::vector<std::string> names = {"add", "half", "mul", "ns::sub"};
  for (std::uint32_t i = 0; i < names.size(); ++i) {
    const FunctionEntry* e = t.at(i);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->name, names[i]);
    EXPECT_EQ(e->index, i);
  }
  EXPECT_EQ(t.at(4), nullptr);
  t.seal();  // sealing twice changes nothing
  EXPECT_EQ(t.size(), 4u);
}

TEST(FunctionTable, FindsEntriesByKey) {
  FunctionTable t;
  t.add(make_entry("add", &add));
  t.add(make_entry("mul", &mul));
  t.seal();
  const FunctionEntry* a = t.find(key_of(&add));
  const FunctionEntry* m = t.find(key_of(&mul));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(a->name, "add");
  EXPECT_EQ(m->name, "mul");
  EXPECT_EQ(a, t.at(a->index));
  EXPECT_EQ(t.find(key_of(&half)), nullptr);
}

TEST(FunctionTable, SameFunctionUnderSameNameTwiceIsKeptOnce) {
  FunctionTable t;
  t.add(make_entry("add", &add));
  t.add(make_entry("add", &add));  // the same header seen by two translation units
  t.seal();
  EXPECT_EQ(t.size(), 1u);
  EXPECT_NE(t.find(key_of(&add)), nullptr);
}

TEST(FunctionTable, TwoFunctionsUnderOneNameFailToSeal) {
  FunctionTable t;
  t.add(make_entry("combine", &add));
  t.add(make_entry("combine", &mul));
  const std::string what = logic_error_of_seal(t);
  EXPECT_NE(what.find("'combine'"), std::string::npos) << what;
  EXPECT_FALSE(t.sealed());
}

TEST(FunctionTable, OneFunctionUnderTwoNamesFailsToSeal) {
  FunctionTable t;
  t.add(make_entry("plus", &add));
  t.add(make_entry("add", &add));
  const std::string what = logic_error_of_seal(t);
  EXPECT_NE(what.find("'add'"), std::string::npos) << what;
  EXPECT_NE(what.find("'plus'"), std::string::npos) << what;
}

TEST(FunctionTable, AddAfterSealThrows) {
  FunctionTable t;
  t.add(make_entry("add", &add));
  t.seal();
  EXPECT_THROW(t.add(make_entry("mul", &mul)), std::logic_error);
  EXPECT_EQ(t.size(), 1u);
}

TEST(FunctionTable, ListingAndHashDependOnNamesAndSignaturesOnly) {
  FunctionTable a, b;
  a.add(make_entry("add", &add));
  a.add(make_entry("half", &half));
  b.add(make_entry("half", &half));  // other registration order, same table once sealed
  b.add(make_entry("add", &add));
  a.seal();
  b.seal();
  EXPECT_EQ(a.listing(), b.listing());
  EXPECT_EQ(a.hash(), b.hash());
  EXPECT_NE(a.listing().find("add int (*)(int, int)\n"), std::string::npos) << a.listing();
  EXPECT_NE(a.listing().find("half double (*)(double)\n"), std::string::npos) << a.listing();

  // Same names, one signature differs (as when ranks run different binaries).
  FunctionTable c;
  c.add(make_entry("add", &add));
  c.add(make_entry("half", &touch));
  c.seal();
  EXPECT_NE(a.listing(), c.listing());
  EXPECT_NE(a.hash(), c.hash());

  // A missing function changes it too.
  FunctionTable d;
  d.add(make_entry("add", &add));
  d.seal();
  EXPECT_NE(a.hash(), d.hash());
}

TEST(FunctionEntry, DescribesTheFunction) {
  const FunctionEntry e = make_entry("add", &add);
  EXPECT_EQ(e.name, "add");
  EXPECT_EQ(e.signature, "int (*)(int, int)");
  EXPECT_EQ(e.arity, 2u);
  EXPECT_EQ(e.key, key_of(&add));
  EXPECT_FALSE(e.key == key_of(&mul));
  EXPECT_NE(e.invoke, nullptr);
}

TEST(FunctionEntry, InvokeDecodesArgumentsAndEncodesTheResult) {
  const FunctionEntry e = make_entry("add", &add);
  const std::uint64_t int_tag = manta::detail::type_tag<int>();
  Buffer a = manta::encode_value(40);
  Buffer b = manta::encode_value(2);
  const ArgView args[] = {view_of(a, int_tag), view_of(b, int_tag)};
  CallResult out;
  e.invoke(e.key, nullptr, args, 2, out);
  EXPECT_EQ(out.tag, int_tag);
  EXPECT_EQ(manta::decode_tagged<int>(out.tag, out.bytes.data(), out.bytes.size()), 42);

  // Arguments keep their order.
  const FunctionEntry s = make_entry("ns::sub", &ns::sub);
  CallResult diff;
  s.invoke(s.key, nullptr, args, 2, diff);
  EXPECT_EQ(manta::decode_tagged<int>(diff.tag, diff.bytes.data(), diff.bytes.size()), 38);
}

TEST(FunctionEntry, InvokeWithStringsAndVectors) {
  const FunctionEntry e = make_entry("describe", &describe);
  Buffer name = manta::encode_value(std::string("xs"));
  Buffer xs = manta::encode_value(std::vector<double>{1.5, 2.5, 6.0});
  const ArgView args[] = {view_of(name, manta::detail::type_tag<std::string>()),
                          view_of(xs, manta::detail::type_tag<std::vector<double>>())};
  CallResult out;
  e.invoke(e.key, nullptr, args, 2, out);
  EXPECT_EQ(manta::decode_tagged<std::string>(out.tag, out.bytes.data(), out.bytes.size()),
            "xs:3:10");
}

TEST(FunctionEntry, InvokeVoidFunction) {
  const FunctionEntry e = make_entry("touch", &touch);
  Buffer a = manta::encode_value(99);
  const ArgView args[] = {view_of(a, manta::detail::type_tag<int>())};
  CallResult out;
  g_side_effect = 0;
  e.invoke(e.key, nullptr, args, 1, out);
  EXPECT_EQ(g_side_effect, 99);
  EXPECT_EQ(out.tag, manta::detail::type_tag<void>());
  EXPECT_TRUE(out.bytes.empty());
}

TEST(FunctionEntry, WrongArgumentTagNamesTheArgument) {
  const FunctionEntry e = make_entry("add", &add);
  Buffer a = manta::encode_value(1);
  Buffer b = manta::encode_value(2.0);
  const ArgView args[] = {view_of(a, manta::detail::type_tag<int>()),
                          view_of(b, manta::detail::type_tag<double>())};
  CallResult out;
  try {
    e.invoke(e.key, nullptr, args, 2, out);
    FAIL() << "invoke accepted a double for an int parameter";
  } catch (const SerializationError& err) {
    const std::string what = err.what();
    EXPECT_NE(what.find("argument 1"), std::string::npos) << what;
    EXPECT_NE(what.find("expected int"), std::string::npos) << what;
    EXPECT_NE(what.find("double"), std::string::npos) << what;
  }
}

TEST(FunctionEntry, WrongArgumentCountOrSizeThrows) {
  const FunctionEntry e = make_entry("add", &add);
  Buffer a = manta::encode_value(1);
  const ArgView one[] = {view_of(a, manta::detail::type_tag<int>())};
  CallResult out;
  EXPECT_THROW(e.invoke(e.key, nullptr, one, 1, out), SerializationError);
  Buffer shorter(2);
  const ArgView bad_size[] = {view_of(a, manta::detail::type_tag<int>()),
                              view_of(shorter, manta::detail::type_tag<int>())};
  EXPECT_THROW(e.invoke(e.key, nullptr, bad_size, 2, out), SerializationError);
}

template <class A, class B>
bool same_pointer_bytes(A a, B b) {
  static_assert(sizeof a == sizeof b);
  return std::memcmp(&a, &b, sizeof a) == 0;
}

TEST(FunctionTable, VirtualMethodsOfTwoClassesAreTwoFunctions) {
  // The collision the class in the key resolves: same bytes, other classes.
  ASSERT_TRUE(same_pointer_bytes(&Shape::sides, &Square::sides));
  ASSERT_TRUE(same_pointer_bytes(&Shape::sides, &Engine::cylinders));
  FunctionTable t;
  t.add(manta::detail::make_method_entry<decltype(&Shape::sides), Shape, int>(
      "Shape::sides", &Shape::sides, static_cast<std::tuple<>*>(nullptr)));
  t.add(manta::detail::make_method_entry<decltype(&Square::sides), Square, int>(
      "Square::sides", &Square::sides, static_cast<std::tuple<>*>(nullptr)));
  t.add(manta::detail::make_method_entry<decltype(&Engine::cylinders), Engine, int>(
      "Engine::cylinders", &Engine::cylinders, static_cast<std::tuple<>*>(nullptr)));
  ASSERT_EQ(logic_error_of_seal(t), "seal did not throw");
  ASSERT_EQ(t.size(), 3u);
  const FunctionEntry* shape = t.find(key_of(&Shape::sides));
  const FunctionEntry* square = t.find(key_of(&Square::sides));
  const FunctionEntry* engine = t.find(key_of(&Engine::cylinders));
  ASSERT_NE(shape, nullptr);
  ASSERT_NE(square, nullptr);
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(shape->name, "Shape::sides");
  EXPECT_EQ(square->name, "Square::sides");
  EXPECT_EQ(engine->name, "Engine::cylinders");
  EXPECT_FALSE(key_of(&Shape::sides) == key_of(&Square::sides));
  EXPECT_EQ(shape->class_tag, manta::detail::type_tag<Shape>());
  EXPECT_EQ(key_of(&Square::sides).class_tag, manta::detail::type_tag<Square>());
  EXPECT_EQ(key_of(&add).class_tag, 0u);
}

TEST(FunctionTable, InheritedMethodUnderTwoNamesSaysWhy) {
  // A method a class does not override is its base's own: same bytes, same class.
  struct Plain : Shape {};
  FunctionTable t;
  t.add(manta::detail::make_method_entry<decltype(&Shape::sides), Shape, int>(
      "Shape::sides", &Shape::sides, static_cast<std::tuple<>*>(nullptr)));
  t.add(manta::detail::make_method_entry<decltype(&Plain::sides), Shape, int>(
      "Plain::sides", &Plain::sides, static_cast<std::tuple<>*>(nullptr)));
  const std::string what = logic_error_of_seal(t);
  EXPECT_NE(what.find("'Plain::sides'"), std::string::npos) << what;
  EXPECT_NE(what.find("base class"), std::string::npos) << what;
}

TEST(FunctionEntry, BaseMethodOnDerivedInstanceDispatchesVirtually) {
  const FunctionEntry e = manta::detail::make_method_entry<decltype(&Shape::sides), Shape, int>(
      "Shape::sides", &Shape::sides, static_cast<std::tuple<>*>(nullptr));
  // What ActorHandle<Square2>::task(&Shape::sides) registers, and the host applies.
  ASSERT_TRUE((manta::detail::upcast_registered<Square2, Shape>));
  const auto cast = manta::detail::find_upcast(manta::detail::type_tag<Square2>(),
                                               manta::detail::type_tag<Shape>());
  ASSERT_NE(cast, nullptr);
  EXPECT_EQ(manta::detail::find_upcast(manta::detail::type_tag<Engine>(),
                                       manta::detail::type_tag<Shape>()),
            nullptr);
  Square2 instance;
  void* actor = &instance;  // how a host keeps the factory's Square2*
  void* self = cast(actor);
  EXPECT_EQ(self, static_cast<void*>(static_cast<Shape*>(&instance)));
  EXPECT_NE(self, actor);
  CallResult out;
  e.invoke(e.key, self, nullptr, 0, out);
  EXPECT_EQ(manta::decode_tagged<int>(out.tag, out.bytes.data(), out.bytes.size()), 40);
}

// The process-wide table that MANTA_REMOTE fills. One test, so its order of steps is fixed.
TEST(Singleton, MantaRemoteRegistersByNameAndLookupNeedsSeal) {
  auto& table = FunctionTable::instance();
  if (!table.sealed()) {  // (sealed already when gtest repeats the test in one process)
    EXPECT_THROW((void)manta::detail::lookup_function(key_of(&add),
                                                      &manta::detail::type_name<decltype(&add)>,
                                                      reinterpret_cast<const void*>(&add)),
                 manta::UnregisteredFunctionError);
  }
  table.seal();
  const FunctionEntry* a = table.find(key_of(&add));
  const FunctionEntry* s = table.find(key_of(&ns::sub));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(a->name, "add");
  EXPECT_EQ(s->name, "ns::sub");
  EXPECT_EQ(&manta::detail::lookup_function(key_of(&add), &manta::detail::type_name<decltype(&add)>,
                                            nullptr),
            a);
  try {
    (void)manta::detail::lookup_function(key_of(&never_registered),
                                         &manta::detail::type_name<decltype(&never_registered)>,
                                         reinterpret_cast<const void*>(&never_registered));
    FAIL() << "an unregistered function was found";
  } catch (const manta::UnregisteredFunctionError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("not registered"), std::string::npos) << what;
    EXPECT_NE(what.find("MANTA_REMOTE"), std::string::npos) << what;
    EXPECT_EQ(e.info().kind, manta::ErrorKind::unregistered);
  }
}

}  // namespace
