// Crash reports: on a fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) a rank says on
// stderr and in its log which rank, host and pid crashed, which task or actor call was running on
// the crashing thread, and a symbolised backtrace; it leaves an exit record naming the signal in
// the job directory, then ends by the signal's default action, so the launcher sees it as before.
//
// The handler runs on an alternate stack (a stack overflow is reported too) and does only
// async-signal-safe work: what it prints was formatted at install or is built from fixed-size
// records. Symbols are looked up in a forked copy of the process (addr2line), which the handler
// waits for a bounded time; the raw frames are written first, so a symboliser that cannot finish
// loses nothing.
#pragma once

#include <string>

#include <manta/ids.h>

namespace manta::engine {

struct CrashReportSettings {
  int rank = 0;
  int world_size = 1;
  std::string host;
  std::string job_dir;  // empty: no log file and no exit record
};

/// Installs the handler for the fatal signals (once; a later call updates the settings) and an
/// alternate signal stack on the calling thread.
void install_crash_handler(const CrashReportSettings& settings);

/// What the current thread is running, for the report: set by the executor around each call of
/// user code. Scopes nest (a task blocked in `get` may run another on its thread). The strings
/// must outlive the scope.
class RunningCallScope {
 public:
  enum class Kind : unsigned char { task, actor_creation, actor_call };
  RunningCallScope(Kind kind, const std::string& function, const std::string& name, TaskId task,
                   ActorId actor) noexcept;
  ~RunningCallScope();
  RunningCallScope(const RunningCallScope&) = delete;

  /// The actor whose method the calling thread runs now (invalid outside actor methods), and
  /// the function's name (empty outside user code): collective calls find their member by it.
  static ActorId current_actor() noexcept;
  static std::string current_function();
  RunningCallScope& operator=(const RunningCallScope&) = delete;

 private:
  friend struct CrashHandlerAccess;
  Kind kind_;
  const std::string* function_;
  const std::string* name_;
  TaskId task_;
  ActorId actor_;
  RunningCallScope* outer_;
};

/// Gives the calling thread an alternate signal stack, so that a stack overflow on it can still
/// be reported. Cheap after the first call on a thread; the stack is freed when the thread ends.
void ensure_alternate_signal_stack() noexcept;

}  // namespace manta::engine
