// Environment variables of a job, a task or an actor (Ray's runtime_env env_vars).
//
//   --manta-env NAME=VALUE            every rank: set with setenv at init, before user code runs
//   manta::task(f).env({{"K", "v"}})  while this task runs
//   manta::actor(f).env({{"K", "v"}}) in the actor's factory and every call of it
//
// Tasks and actors are threads of one process that share its environment, so a task's or an
// actor's variables are not set with setenv (other threads would see them, and setenv is not
// thread-safe): they are an overlay of the thread that runs the task or call. Read them with
// manta::getenv. Plain std::getenv (and libraries that call it) sees only the job's variables.
#pragma once

namespace manta {

/// The value of `name` for the calling task or actor call: its own variables (.env) first, then
/// the process environment (std::getenv). nullptr when it is set in neither. The pointer stays
/// valid while the task or call runs (for process variables: until they are changed).
const char* getenv(const char* name) noexcept;

}  // namespace manta
