// The kernel tables: filled during static initialisation by the templates of
// manta/data/kernels.h, read by tasks on every rank.
#include <manta/data/kernels.h>

#include <map>
#include <mutex>
#include <string>

#include <manta/data/errors.h>

namespace manta::data {

void Rows::throw_type_mismatch(const std::string& wanted) const {
  throw DataError("dataset rows hold " + manta::detail::type_name_of_tag(tag_) + ", not " + wanted +
                  ": the plan's row types do not match (a bug in the dataset library)");
}

namespace detail {
namespace {

// One table per kind of kernel. A name added twice with different kernels is ambiguous: two
// lambdas can print alike (same signature, same enclosing function) in different files.
template <class K>
class Table {
 public:
  bool add(const std::string& name, const K& kernel, bool (*same)(const K&, const K&)) {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = entries_.try_emplace(name, Entry{kernel, false});
    if (!inserted && !same(it->second.kernel, kernel)) it->second.ambiguous = true;
    return true;
  }
  const K& find(const std::string& name, const char* what) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(name);
    if (it == entries_.end()) {
      throw DataError(std::string("no ") + what + " kernel '" + name +
                      "' in this program: every rank must run the same binary");
    }
    if (it->second.ambiguous) {
      throw DataError(std::string("two different ") + what + " functions are both named '" + name +
                      "' (lambdas that print alike in different files): make one of them a "
                      "named function registered with MANTA_REMOTE, or a named function object");
    }
    return it->second.kernel;
  }

 private:
  struct Entry {
    K kernel;
    bool ambiguous = false;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

template <class K>
Table<K>& table() {
  static Table<K> t;
  return t;
}

template <class P>
bool same_pointer(const P& a, const P& b) {
  return a == b;
}
bool same_rows(const RowKernels& a, const RowKernels& b) { return a.encode == b.encode; }
bool same_actor(const ActorStageFns& a, const ActorStageFns& b) { return a.run == b.run; }

}  // namespace

bool add_stage_kernel(const std::string& name, StageFn fn) {
  return table<StageFn>().add(name, fn, &same_pointer<StageFn>);
}
StageFn find_stage_kernel(const std::string& name) {
  return table<StageFn>().find(name, "transform");
}
bool add_row_kernels(const std::string& name, const RowKernels& kernels) {
  return table<RowKernels>().add(name, kernels, &same_rows);
}
const RowKernels& find_row_kernels(const std::string& name) {
  return table<RowKernels>().find(name, "row type");
}
bool add_source_kernel(const std::string& name, SourceFn fn) {
  return table<SourceFn>().add(name, fn, &same_pointer<SourceFn>);
}
SourceFn find_source_kernel(const std::string& name) {
  return table<SourceFn>().find(name, "source");
}
bool add_actor_kernel(const std::string& name, const ActorStageFns& fns) {
  return table<ActorStageFns>().add(name, fns, &same_actor);
}
const ActorStageFns& find_actor_kernel(const std::string& name) {
  return table<ActorStageFns>().find(name, "actor transform");
}

}  // namespace detail
}  // namespace manta::data
