#include "engine/function_table.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include <manta/detail/function_lookup.h>
#include <manta/errors.h>
#include <manta/init.h>

namespace manta::engine {

std::size_t FunctionKeyHash::operator()(const detail::FunctionKey& k) const noexcept {
  const std::uint64_t h = detail::fnv1a(
      std::string_view(reinterpret_cast<const char*>(k.bytes.data()), k.bytes.size()));
  return static_cast<std::size_t>(h ^ (k.class_tag * 0x9e3779b97f4a7c15ull));
}

FunctionTable& FunctionTable::instance() {
  static FunctionTable t;
  return t;
}

void FunctionTable::add(detail::FunctionEntry entry) {
  std::lock_guard lock(mutex_);
  if (sealed_) {
    throw std::logic_error("manta: MANTA_REMOTE(" + entry.name +
                           ") ran after manta::init; register functions at namespace scope");
  }
  for (const auto& e : entries_) {
    if (e.key == entry.key && e.name == entry.name) return;  // same header seen by two files
  }
  entries_.push_back(std::move(entry));
}

void FunctionTable::seal() {
  std::lock_guard lock(mutex_);
  if (sealed_) return;
  std::sort(entries_.begin(), entries_.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (i > 0 && entries_[i].name == entries_[i - 1].name) {
      throw std::logic_error(fmt::format(
          "manta: two different functions are registered as '{}' ({} and {}); give them "
          "distinct names",
          entries_[i].name, entries_[i - 1].signature, entries_[i].signature));
    }
    entries_[i].index = static_cast<std::uint32_t>(i);
    auto [it, inserted] = by_key_.emplace(entries_[i].key, static_cast<std::uint32_t>(i));
    if (!inserted) {
      throw std::logic_error(fmt::format(
          "manta: one function is registered under two names, '{}' and '{}'; keep one "
          "MANTA_REMOTE for it (a method a class inherits without overriding it is its base "
          "class's method: register it once, under the base class's name)",
          entries_[it->second].name, entries_[i].name));
    }
  }
  sealed_ = true;
}

const detail::FunctionEntry* FunctionTable::find(const detail::FunctionKey& key) const {
  if (!sealed_) return nullptr;
  auto it = by_key_.find(key);
  return it == by_key_.end() ? nullptr : &entries_[it->second];
}

const detail::FunctionEntry* FunctionTable::at(std::uint32_t index) const {
  return index < entries_.size() ? &entries_[index] : nullptr;
}

const detail::FunctionEntry* FunctionTable::named(const std::string& name) const {
  // Sealed entries are sorted by name.
  auto it = std::lower_bound(
      entries_.begin(), entries_.end(), name,
      [](const detail::FunctionEntry& e, const std::string& n) { return e.name < n; });
  return it != entries_.end() && it->name == name ? &*it : nullptr;
}

std::string FunctionTable::listing() const {
  std::string s;
  for (const auto& e : entries_) s += e.name + " " + e.signature + "\n";
  return s;
}

std::uint64_t FunctionTable::hash() const { return detail::fnv1a(listing()); }

}  // namespace manta::engine

namespace manta::detail {

void register_function(FunctionEntry entry) {
  engine::FunctionTable::instance().add(std::move(entry));
}

const FunctionEntry* find_function(const FunctionKey& key) {
  const auto& table = engine::FunctionTable::instance();
  return table.sealed() ? table.find(key) : nullptr;
}

const FunctionEntry* find_function_named(const std::string& name) {
  const auto& table = engine::FunctionTable::instance();
  return table.sealed() ? table.named(name) : nullptr;
}

const FunctionEntry& lookup_function(const FunctionKey& key, std::string (*signature)(),
                                     const void* address) {
  auto& table = engine::FunctionTable::instance();
  if (!table.sealed()) {
    ErrorInfo info;
    info.kind = ErrorKind::unregistered;
    info.rank = manta::rank();
    info.message = "manta::task called before manta::init";
    throw UnregisteredFunctionError(std::move(info));
  }
  if (const FunctionEntry* e = table.find(key)) return *e;
  // Name the function as well as we can: its symbol if the binary exports it, else its type.
  std::string name;
  Dl_info dl{};
  if (dladdr(address, &dl) != 0 && dl.dli_sname) name = demangle(dl.dli_sname);
  ErrorInfo info;
  info.kind = ErrorKind::unregistered;
  info.rank = manta::rank();
  info.task_name = name;
  info.message =
      fmt::format("function {}{} at {} is not registered; add MANTA_REMOTE({}) at namespace scope",
                  name.empty() ? "" : "'" + name + "' ", "of type " + signature(), address,
                  name.empty() ? "f" : name.substr(0, name.find('(')));
  throw UnregisteredFunctionError(std::move(info));
}

namespace {

struct UpcastTable {
  std::mutex mutex;
  std::unordered_map<std::uint64_t, std::unordered_map<std::uint64_t, Upcast>> casts;
};

UpcastTable& upcasts() {
  static UpcastTable t;  // filled during static initialisation, in any order
  return t;
}

}  // namespace

bool register_upcast(std::uint64_t from_class, std::uint64_t to_class, Upcast cast) {
  auto& t = upcasts();
  std::lock_guard lock(t.mutex);
  t.casts[from_class][to_class] = cast;
  return true;
}

Upcast find_upcast(std::uint64_t from_class, std::uint64_t to_class) {
  auto& t = upcasts();
  std::lock_guard lock(t.mutex);
  auto from = t.casts.find(from_class);
  if (from == t.casts.end()) return nullptr;
  auto to = from->second.find(to_class);
  return to == from->second.end() ? nullptr : to->second;
}

namespace {

std::string trimmed(std::string_view text) {
  std::size_t b = text.find_first_not_of(" \t\n&");
  std::size_t e = text.find_last_not_of(" \t\n");
  return b == std::string_view::npos ? std::string() : std::string(text.substr(b, e - b + 1));
}

/// "MANTA_FUNC(f, int, double)" (or Ray's RAY_FUNC) -> "f(int, double)": each overload gets a
/// name of its own, which errors and the registry's listing show.
std::string overload_name(std::string name) {
  for (std::string_view macro : {"MANTA_FUNC(", "RAY_FUNC("}) {
    if (!name.starts_with(macro) || !name.ends_with(')')) continue;
    std::string_view inner(name);
    inner = inner.substr(macro.size(), inner.size() - macro.size() - 1);
    const std::size_t comma = inner.find(',');
    if (comma == std::string_view::npos) return trimmed(inner) + "()";
    return trimmed(inner.substr(0, comma)) + "(" + trimmed(inner.substr(comma + 1)) + ")";
  }
  return name;
}

}  // namespace

std::vector<std::string> split_registered_names(std::string_view text) {
  std::vector<std::string> out;
  int depth = 0;
  std::string cur;
  auto flush = [&] {
    out.push_back(overload_name(trimmed(cur)));
    cur.clear();
  };
  for (char c : text) {
    if (c == '<' || c == '(' || c == '[') ++depth;
    if (c == '>' || c == ')' || c == ']') --depth;
    if (c == ',' && depth == 0) {
      flush();
    } else {
      cur += c;
    }
  }
  flush();
  return out;
}

}  // namespace manta::detail
