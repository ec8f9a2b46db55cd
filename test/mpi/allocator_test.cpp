// The allocator of a program linked with Manta::manta: jemalloc where the build found it (the
// runtime allocates and frees many small objects on several threads), glibc's otherwise and in
// sanitizer builds. Checked by where the program's `malloc` symbol resolves, and by tasks whose
// results are allocated on one thread and freed on another.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include <manta/manta.h>

namespace {

std::vector<std::string> words(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(std::string(static_cast<std::size_t>(i % 64), 'x'));
  return out;
}

MANTA_REMOTE(words);

std::string malloc_library() {
  void* sym = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info info{};
  if (sym == nullptr || dladdr(sym, &info) == 0 || info.dli_fname == nullptr) return "";
  return info.dli_fname;
}

TEST(Allocator, ProgramMallocIsTheOneTheBuildChose) {
  const std::string lib = malloc_library();
  ASSERT_FALSE(lib.empty()) << "dladdr found no library for malloc";
  if (MANTA_HAVE_JEMALLOC) {
    EXPECT_NE(lib.find("jemalloc"), std::string::npos) << "malloc comes from " << lib;
  } else {
    EXPECT_EQ(lib.find("jemalloc"), std::string::npos) << "malloc comes from " << lib;
  }
}

TEST(Allocator, ValuesMadeOnWorkersAreFreedOnTheDriver) {
  std::vector<manta::ObjectRef<std::vector<std::string>>> refs;
  for (int i = 0; i < 200; ++i) refs.push_back(manta::task(words).remote(i));
  std::size_t total = 0;
  for (const auto& v : manta::get(refs, std::chrono::seconds(60))) total += v->size();
  EXPECT_EQ(total, 199u * 200u / 2u);
}

}  // namespace
