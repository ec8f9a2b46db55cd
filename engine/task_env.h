// Environment variables (include/manta/env.h): the job's, set on every rank at init, and the
// overlay of the task or actor call a thread runs, which manta::getenv reads first.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <manta/options.h>

namespace manta::engine {

using EnvAssignment = std::pair<std::string, std::string>;

/// "NAME=VALUE" (the value may hold '=' and be empty). Throws std::invalid_argument saying what
/// is wrong and what is expected.
EnvAssignment parse_env_assignment(const std::string& text);

/// Empty if `name` can name a variable (a letter or '_', then letters, digits or '_'); else why
/// not.
std::string invalid_env_name(const std::string& name);

/// setenv for each, in order (a later one of the same name wins). Call before threads that read
/// the environment start: setenv is not thread-safe. Throws std::runtime_error if setenv fails.
void set_job_env(const std::vector<EnvAssignment>& vars);

/// While it lives, manta::getenv on this thread looks in `vars` first (nullptr: none). Scopes
/// nest: a task run by a thread blocked in get sees its own variables, not the outer task's.
class EnvScope {
 public:
  explicit EnvScope(const EnvVars* vars) noexcept;
  ~EnvScope();
  EnvScope(const EnvScope&) = delete;
  EnvScope& operator=(const EnvScope&) = delete;

  /// The variables of the innermost scope on this thread, or nullptr.
  static const EnvVars* current() noexcept;

 private:
  const EnvVars* previous_;
};

}  // namespace manta::engine
