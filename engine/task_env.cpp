#include "engine/task_env.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <manta/env.h>

namespace manta::engine {
namespace {

thread_local const EnvVars* t_env = nullptr;

bool name_char(char c, bool first) {
  const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  return alpha || (!first && c >= '0' && c <= '9');
}

}  // namespace

std::string invalid_env_name(const std::string& name) {
  if (name.empty()) return "the variable name is empty";
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!name_char(name[i], i == 0)) {
      return fmt::format(
          "'{}' is not a variable name: use letters, digits and '_', not starting with a digit",
          name);
    }
  }
  return {};
}

EnvAssignment parse_env_assignment(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos) {
    throw std::invalid_argument(
        "expected NAME=VALUE (no '=' in it), e.g. --manta-env=OMP_NUM_THREADS=4");
  }
  std::string name = text.substr(0, eq);
  if (std::string why = invalid_env_name(name); !why.empty()) {
    throw std::invalid_argument(why + "; expected NAME=VALUE, e.g. --manta-env=OMP_NUM_THREADS=4");
  }
  return {std::move(name), text.substr(eq + 1)};
}

void set_job_env(const std::vector<EnvAssignment>& vars) {
  for (const auto& [name, value] : vars) {
    if (::setenv(name.c_str(), value.c_str(), 1) != 0) {
      throw std::runtime_error(
          fmt::format("--manta-env={}={}: setenv failed: {}", name, value, std::strerror(errno)));
    }
  }
}

EnvScope::EnvScope(const EnvVars* vars) noexcept : previous_(t_env) { t_env = vars; }

EnvScope::~EnvScope() { t_env = previous_; }

const EnvVars* EnvScope::current() noexcept { return t_env; }

}  // namespace manta::engine

namespace manta {

const char* getenv(const char* name) noexcept {
  if (name == nullptr) return nullptr;
  if (const EnvVars* vars = engine::EnvScope::current()) {
    // A scan builds no std::string (which could throw here); a task's variables are few.
    for (const auto& [k, v] : *vars) {
      if (k == name) return v.c_str();
    }
  }
  return std::getenv(name);
}

}  // namespace manta
