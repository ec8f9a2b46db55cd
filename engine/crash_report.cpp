#include "engine/crash_report.h"

#include <dlfcn.h>
#include <elf.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <cxxabi.h>

extern char** environ;

namespace manta::engine {

// The handler reads these from signal context: static TLS, so no lazy allocation there.
#define MANTA_SIGNAL_TLS thread_local __attribute__((tls_model("initial-exec")))
MANTA_SIGNAL_TLS RunningCallScope* t_current = nullptr;
MANTA_SIGNAL_TLS std::uintptr_t t_stack_low = 0;  // this thread's stack end (0: unknown)
#undef MANTA_SIGNAL_TLS

struct CrashHandlerAccess {
  static const RunningCallScope* outer(const RunningCallScope& s) { return s.outer_; }
  static RunningCallScope::Kind kind(const RunningCallScope& s) { return s.kind_; }
  static const std::string& function(const RunningCallScope& s) { return *s.function_; }
  static const std::string& name(const RunningCallScope& s) { return *s.name_; }
  static TaskId task(const RunningCallScope& s) { return s.task_; }
  static ActorId actor(const RunningCallScope& s) { return s.actor_; }
};

RunningCallScope::RunningCallScope(Kind kind, const std::string& function, const std::string& name,
                                   TaskId task, ActorId actor) noexcept
    : kind_(kind),
      function_(&function),
      name_(&name),
      task_(task),
      actor_(actor),
      outer_(t_current) {
  ensure_alternate_signal_stack();
  std::atomic_signal_fence(std::memory_order_seq_cst);  // complete before it is visible
  t_current = this;
}

RunningCallScope::~RunningCallScope() {
  t_current = outer_;
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

ActorId RunningCallScope::current_actor() noexcept {
  const RunningCallScope* s = t_current;
  return s && s->kind_ == Kind::actor_call ? s->actor_ : ActorId{};
}

std::string RunningCallScope::current_function() {
  const RunningCallScope* s = t_current;
  return s ? *s->function_ : std::string();
}

namespace {

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
constexpr std::size_t kAltStackSize = 256 * 1024;  // also runs the symboliser's fork
constexpr int kSymboliseSeconds = 10;
constexpr int kMaxFrames = 64;

// Formatted at install; read by the handler.
char g_who[512];         // "rank 1 of 4 on host h (pid 123)"
char g_host_json[300];   // the host, escaped for JSON
char g_log_path[4096];   // the rank's log file, or ""
char g_exit_path[4096];  // DIR/rank-N.exit, or ""
char g_exit_tmp[4096];   // its temporary name
char g_addr2line[4096];  // addr2line's path, or "" (then names come from dladdr)
int g_rank = 0;
int g_world_size = 1;
std::atomic<pid_t> g_reporter{0};

// A fixed buffer the handler formats into (no allocation in signal context).
struct Text {
  char buf[48 * 1024];
  std::size_t n = 0;
  void add(const char* s) {
    while (s && *s && n + 1 < sizeof buf) buf[n++] = *s++;
  }
  void add(const char* s, std::size_t len) {
    for (std::size_t i = 0; i < len && n + 1 < sizeof buf; ++i) buf[n++] = s[i];
  }
  void num(long long v) {
    char tmp[24];
    int i = 0;
    const bool neg = v < 0;
    unsigned long long u = neg ? 0ull - static_cast<unsigned long long>(v) : v;
    do {
      tmp[i++] = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u);
    if (neg) tmp[i++] = '-';
    while (i) add(&tmp[--i], 1);
  }
  void hex(std::uintptr_t v) {
    char tmp[20];
    int i = 0;
    do {
      tmp[i++] = "0123456789abcdef"[v & 15];
      v >>= 4;
    } while (v);
    add("0x");
    while (i) add(&tmp[--i], 1);
  }
  void json_string(const char* s) {
    add("\"");
    for (; s && *s; ++s) {
      const unsigned char c = static_cast<unsigned char>(*s);
      if (c == '"' || c == '\\') {
        add("\\");
        add(reinterpret_cast<const char*>(&c), 1);
      } else if (c < 0x20) {
        add("\\u00");
        add(&"0123456789abcdef"[c >> 4], 1);
        add(&"0123456789abcdef"[c & 15], 1);
      } else {
        add(reinterpret_cast<const char*>(&c), 1);
      }
    }
    add("\"");
  }
  void clear() { n = 0; }
};

Text g_report;   // what stderr and the log get
Text g_running;  // the running call, one line, reused in the exit record
Text g_exit;     // the exit record
Text g_frames;   // the symbolised backtrace, from the symboliser

void write_all(int fd, const char* p, std::size_t n) {
  while (fd >= 0 && n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

void copy(char* dst, std::size_t cap, const std::string& src) {
  const std::size_t n = std::min(cap - 1, src.size());
  std::memcpy(dst, src.data(), n);
  dst[n] = '\0';
}

const char* signal_text(int sig) {
  switch (sig) {
    case SIGSEGV:
      return "SIGSEGV (segmentation fault)";
    case SIGBUS:
      return "SIGBUS (bus error)";
    case SIGFPE:
      return "SIGFPE (arithmetic error)";
    case SIGILL:
      return "SIGILL (illegal instruction)";
    case SIGABRT:
      return "SIGABRT";
    default:
      return "a fatal signal";
  }
}

const char* signal_abbrev(int sig) {
  switch (sig) {
    case SIGSEGV:
      return "SIGSEGV";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGILL:
      return "SIGILL";
    case SIGABRT:
      return "SIGABRT";
    default:
      return "SIG?";
  }
}

void describe_call(Text& t, const RunningCallScope& s) {
  using Kind = RunningCallScope::Kind;
  const std::string& function = CrashHandlerAccess::function(s);
  const std::string& name = CrashHandlerAccess::name(s);
  const TaskId id = CrashHandlerAccess::task(s);
  const ActorId actor = CrashHandlerAccess::actor(s);
  switch (CrashHandlerAccess::kind(s)) {
    case Kind::task:
      t.add("task ");
      break;
    case Kind::actor_call:
      t.add("actor call ");
      break;
    case Kind::actor_creation:
      t.add("actor creation ");
      break;
  }
  if (!name.empty() && name != function) {
    t.add(name.c_str());
    t.add(" (function ");
    t.add(function.c_str());
    t.add(", ");
  } else {
    t.add(function.c_str());
    t.add(" (");
  }
  t.add("task:");
  t.num(id.submitter);
  t.add(":");
  t.num(static_cast<long long>(id.seq));
  if (CrashHandlerAccess::kind(s) != Kind::task && actor.valid()) {
    t.add(", actor:");
    t.num(actor.creator);
    t.add(":");
    t.num(static_cast<long long>(actor.seq));
  }
  t.add(")");
}

std::uintptr_t fault_pc(void* context) {
  const auto* uc = static_cast<const ucontext_t*>(context);
  if (!uc) return 0;
#if defined(__x86_64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.pc);
#else
  return 0;
#endif
}

// ---- the symboliser: runs in a forked copy of the crashed process, which may hold locks that
// other threads took, so the handler only waits for it a bounded time.

std::string demangled(const char* name) {
  int status = 0;
  char* out = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string s = status == 0 && out ? out : name;
  std::free(out);
  return s;
}

/// Runs addr2line on one module; one entry per address: its lines ("f at file:line", then
/// " (inlined by) ..." lines).
std::vector<std::vector<std::string>> addr2line(const std::string& module,
                                                const std::vector<std::uintptr_t>& offsets) {
  std::vector<std::vector<std::string>> out;
  if (!g_addr2line[0]) return out;
  int fds[2];
  if (::pipe(fds) != 0) return out;
  std::vector<std::string> words{g_addr2line, "-C", "-f", "-i", "-p", "-e", module};
  for (auto o : offsets) {
    char b[32];
    std::snprintf(b, sizeof b, "0x%lx", static_cast<unsigned long>(o));
    words.emplace_back(b);
  }
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, g_addr2line, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (ssize_t r; rc == 0 && (r = ::read(fds[0], buf, sizeof buf)) != 0;) {
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    text.append(buf, static_cast<std::size_t>(r));
  }
  ::close(fds[0]);
  if (rc == 0) ::waitpid(pid, nullptr, 0);
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.rfind(" (inlined by) ", 0) == 0 && !out.empty()) {
      out.back().push_back(line.substr(1));
    } else {
      out.push_back({line});
    }
  }
  if (out.size() != offsets.size()) out.clear();  // not what we asked for: unusable
  return out;
}

bool is_fixed_address_executable(const void* base) {
  const auto* eh = static_cast<const ElfW(Ehdr)*>(base);
  return eh && std::memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_type == ET_EXEC;
}

/// Writes the symbolised frames to `fd`. `exact` is the index of the first frame whose address
/// is the faulting instruction itself rather than a return address.
void symbolise(void* const* frames, int count, int exact, int fd) {
  struct Frame {
    std::string module;
    std::uintptr_t lookup = 0;  // address for addr2line in the module
    std::string symbol;
    std::uintptr_t symbol_offset = 0;
    std::vector<std::string> lines;
  };
  std::vector<Frame> fs(static_cast<std::size_t>(count));
  std::map<std::string, std::vector<std::size_t>> by_module;
  for (int i = 0; i < count; ++i) {
    // A return address points after the call: look up the call itself.
    const auto addr = reinterpret_cast<std::uintptr_t>(frames[i]) - (i > exact ? 1 : 0);
    Frame& f = fs[static_cast<std::size_t>(i)];
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(addr), &info) == 0 || !info.dli_fname) continue;
    f.module = info.dli_fname;
    if (f.module.empty()) {
      std::error_code ec;
      f.module = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    }
    const auto base = reinterpret_cast<std::uintptr_t>(info.dli_fbase);
    f.lookup = is_fixed_address_executable(info.dli_fbase) ? addr : addr - base;
    if (info.dli_sname) {
      f.symbol = demangled(info.dli_sname);
      f.symbol_offset = addr - reinterpret_cast<std::uintptr_t>(info.dli_saddr);
    }
    by_module[f.module].push_back(static_cast<std::size_t>(i));
  }
  for (const auto& [module, indices] : by_module) {
    std::vector<std::uintptr_t> offsets;
    for (auto i : indices) offsets.push_back(fs[i].lookup);
    const auto lines = addr2line(module, offsets);
    if (lines.empty()) continue;
    for (std::size_t k = 0; k < indices.size(); ++k) {
      // Without a file and line, addr2line's name is the nearest exported one, often wrong.
      if (lines[k].empty() || lines[k][0].find(" at ??:") != std::string::npos ||
          lines[k][0].rfind("??", 0) == 0) {
        continue;
      }
      for (std::string line : lines[k]) {
        // "f at /a/b/../c.cpp:12" reads better as "f at /a/c.cpp:12".
        if (const auto at = line.rfind(" at "); at != std::string::npos) {
          const auto colon = line.find(':', at);
          if (colon != std::string::npos) {
            const std::string file = line.substr(at + 4, colon - at - 4);
            line = line.substr(0, at + 4) +
                   std::filesystem::path(file).lexically_normal().string() + line.substr(colon);
          }
        }
        fs[indices[k]].lines.push_back(std::move(line));
      }
    }
  }
  std::string out;
  for (int i = 0; i < count; ++i) {
    const Frame& f = fs[static_cast<std::size_t>(i)];
    char head[32];
    std::snprintf(head, sizeof head, "  #%-2d ", i);
    out += head;
    if (!f.lines.empty()) {
      out += f.lines[0];
      for (std::size_t k = 1; k < f.lines.size(); ++k) out += "\n        " + f.lines[k];
    } else if (!f.symbol.empty()) {
      char off[32];
      std::snprintf(off, sizeof off, "+0x%lx", static_cast<unsigned long>(f.symbol_offset));
      out += f.symbol + off;
    } else {
      char a[32];
      std::snprintf(a, sizeof a, "%p", frames[i]);
      out += a;
    }
    if (!f.module.empty()) {
      out += " [" + std::filesystem::path(f.module).filename().string() + "]";
    }
    out += "\n";
  }
  write_all(fd, out.data(), out.size());
}

/// Forks a copy of this process that symbolises the frames into g_frames; waits at most
/// kSymboliseSeconds. Returns false when nothing usable came back.
bool symbolise_in_child(void* const* frames, int count, int exact) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  // A raw fork: glibc's fork() runs atfork handlers, which take locks the crash may hold.
  const long child = ::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (child < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return false;
  }
  if (child == 0) {
    ::close(fds[0]);
    ::signal(SIGPIPE, SIG_IGN);
    ::alarm(kSymboliseSeconds + 5);  // in case the parent is gone and nobody kills us
    symbolise(frames, count, exact, fds[1]);
    ::_exit(0);
  }
  ::close(fds[1]);
  timespec start{};
  ::clock_gettime(CLOCK_MONOTONIC, &start);
  g_frames.clear();
  bool done = false;
  for (;;) {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    const long left_ms = kSymboliseSeconds * 1000L - ((now.tv_sec - start.tv_sec) * 1000L +
                                                      (now.tv_nsec - start.tv_nsec) / 1000000L);
    if (left_ms <= 0) break;
    pollfd p{fds[0], POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min(left_ms, 200L)));
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      done = n == 0;
      break;
    }
    g_frames.add(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  if (!done) ::kill(static_cast<pid_t>(child), SIGKILL);
  while (::waitpid(static_cast<pid_t>(child), nullptr, 0) < 0 && errno == EINTR) {
  }
  return done && g_frames.n > 0;
}

void write_exit_record(int sig, const siginfo_t* info) {
  if (!g_exit_path[0]) return;
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  Text& t = g_exit;
  t.clear();
  t.add("{\"rank\":");
  t.num(g_rank);
  t.add(",\"code\":");
  t.num(128 + sig);
  t.add(",\"world_size\":");
  t.num(g_world_size);
  t.add(",\"ended_ms\":");
  t.num(static_cast<long long>(now.tv_sec) * 1000 + now.tv_nsec / 1000000);
  t.add(",\"signal\":");
  t.num(sig);
  t.add(",\"signal_name\":\"");
  t.add(signal_abbrev(sig));
  t.add("\",\"host\":");
  t.add(g_host_json);
  t.add(",\"pid\":");
  t.num(::getpid());
  if (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL) {
    t.add(",\"fault_address\":\"");
    t.hex(reinterpret_cast<std::uintptr_t>(info ? info->si_addr : nullptr));
    t.add("\"");
  }
  g_running.buf[g_running.n] = '\0';
  t.add(",\"running\":");
  t.json_string(g_running.buf);
  t.add("}\n");
  const int fd = ::open(g_exit_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  write_all(fd, t.buf, t.n);
  ::close(fd);
  ::rename(g_exit_tmp, g_exit_path);
}

void emit(int log_fd, const Text& t) {
  write_all(2, t.buf, t.n);
  write_all(log_fd, t.buf, t.n);
}

/// Where the signal came from: the faulting address, or who sent it. Async-signal-safe.
void describe_cause(Text& t, int sig, const siginfo_t* info) {
  if (info && (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL)) {
    const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
    t.add(" at address ");
    t.hex(addr);
    if (sig == SIGSEGV && t_stack_low != 0 && addr + 256 * 1024 >= t_stack_low &&
        addr < t_stack_low + 64 * 1024) {
      t.add(" (stack overflow: the address is at the end of this thread's stack)");
    }
  }
  if (info && info->si_code <= 0 && !(sig == SIGSEGV && info->si_code == SI_KERNEL)) {
    if (info->si_pid == ::getpid()) {
      t.add(" (raised by this process: abort() or raise())");
    } else {
      t.add(" (sent by pid ");
      t.num(info->si_pid);
      t.add(")");
    }
  }
}

/// The task or actor call the crashing thread was running, and those it waited in.
/// Async-signal-safe.
void describe_running(Text& t) {
  g_running.clear();
  if (const RunningCallScope* s = t_current) {
    describe_call(g_running, *s);
    t.add("manta: rank ");
    t.num(g_rank);
    t.add(" was running ");
    t.add(g_running.buf, g_running.n);
    t.add(" on the crashing thread\n");
    for (s = CrashHandlerAccess::outer(*s); s; s = CrashHandlerAccess::outer(*s)) {
      t.add("manta:   called while ");
      describe_call(t, *s);
      t.add(" waited on the same thread\n");
    }
  } else {
    t.add("manta: no task or actor call was running on the crashing thread (");
    t.add(g_rank == 0 ? "the driver or a runtime thread" : "a runtime thread");
    t.add(")\n");
  }
}

extern "C" void on_fatal_signal(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  const auto tid = static_cast<pid_t>(::syscall(SYS_gettid));
  pid_t expected = 0;
  if (!g_reporter.compare_exchange_strong(expected, tid)) {
    if (expected == tid) {  // the report itself failed: end now
      ::signal(sig, SIG_DFL);
      ::raise(sig);
      return;
    }
    for (;;) ::pause();  // another thread reports and then ends the process
  }
  Text& t = g_report;
  t.clear();
  t.add("manta: ");
  t.add(g_who);
  t.add(" crashed: ");
  t.add(signal_text(sig));
  describe_cause(t, sig, info);
  t.add("\n");
  describe_running(t);
  t.add("manta: backtrace of the crashing thread (most recent call first):\n");
  const int log_fd = g_log_path[0] ? ::open(g_log_path, O_WRONLY | O_APPEND | O_CLOEXEC) : -1;
  if (log_fd >= 0) {
    static const char kMark[] = "\n";
    write_all(log_fd, kMark, sizeof kMark - 1);
  }
  emit(log_fd, t);
  write_exit_record(sig, info);

  void* frames[kMaxFrames];
  int count = ::backtrace(frames, kMaxFrames);
  // Frames before the faulting instruction belong to this handler.
  const auto pc = fault_pc(context);
  int first = 0;
  for (int i = 0; i < count; ++i) {
    if (reinterpret_cast<std::uintptr_t>(frames[i]) == pc) {
      first = i;
      break;
    }
  }
  if (symbolise_in_child(frames + first, count - first, 0)) {
    emit(log_fd, g_frames);
  } else {
    t.clear();
    t.add("manta: (symbols could not be looked up; raw frames follow)\n");
    emit(log_fd, t);
    ::backtrace_symbols_fd(frames + first, count - first, 2);
    if (log_fd >= 0) ::backtrace_symbols_fd(frames + first, count - first, log_fd);
  }
  if (log_fd >= 0) ::close(log_fd);
  // End as the signal would have: the launcher sees a rank killed by it.
  ::signal(sig, SIG_DFL);
  ::raise(sig);  // blocked until the handler returns, then delivered
  errno = saved_errno;
}

std::string find_on_path(const char* name) {
  const char* path = std::getenv("PATH");
  std::string p = path && *path ? path : "/usr/bin:/bin";
  p += ":/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= p.size()) {
    const std::size_t colon = p.find(':', start);
    const std::string dir = p.substr(start, colon == std::string::npos ? p.npos : colon - start);
    if (!dir.empty()) {
      const std::string candidate = dir + "/" + name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return {};
}

struct AlternateStack {
  void* memory = nullptr;  // ours, freed when the thread ends
  bool checked = false;
  ~AlternateStack() {
    if (!memory) return;
    stack_t off{};
    off.ss_flags = SS_DISABLE;
    ::sigaltstack(&off, nullptr);
    ::munmap(memory, kAltStackSize);
  }
};

}  // namespace

void ensure_alternate_signal_stack() noexcept {
  static thread_local AlternateStack alt;
  if (alt.checked) return;
  alt.checked = true;
  pthread_attr_t attr;
  if (::pthread_getattr_np(::pthread_self(), &attr) == 0) {
    void* low = nullptr;
    std::size_t size = 0;  // the stack grows down towards `low`
    if (::pthread_attr_getstack(&attr, &low, &size) == 0) {
      t_stack_low = reinterpret_cast<std::uintptr_t>(low);
    }
    ::pthread_attr_destroy(&attr);
  }
  stack_t current{};
  if (::sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE)) return;  // has one
  void* m =
      ::mmap(nullptr, kAltStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return;
  stack_t ss{};
  ss.ss_sp = m;
  ss.ss_size = kAltStackSize;
  if (::sigaltstack(&ss, nullptr) != 0) {
    ::munmap(m, kAltStackSize);
    return;
  }
  alt.memory = m;
}

void install_crash_handler(const CrashReportSettings& s) {
  g_rank = s.rank;
  g_world_size = s.world_size;
  copy(g_who, sizeof g_who,
       "rank " + std::to_string(s.rank) + " of " + std::to_string(s.world_size) + " on host " +
           s.host + " (pid " + std::to_string(::getpid()) + ")");
  {
    Text t;
    t.json_string(s.host.c_str());
    copy(g_host_json, sizeof g_host_json, std::string(t.buf, t.n));
  }
  if (!s.job_dir.empty()) {
    copy(g_log_path, sizeof g_log_path, s.job_dir + "/rank-" + std::to_string(s.rank) + ".log");
    copy(g_exit_path, sizeof g_exit_path, s.job_dir + "/rank-" + std::to_string(s.rank) + ".exit");
    copy(g_exit_tmp, sizeof g_exit_tmp,
         s.job_dir + "/rank-" + std::to_string(s.rank) + ".exit.tmp." + std::to_string(::getpid()));
  } else {
    g_log_path[0] = g_exit_path[0] = g_exit_tmp[0] = '\0';
  }
  copy(g_addr2line, sizeof g_addr2line, find_on_path("addr2line"));
  // backtrace() loads the unwinder on its first call: do that now, not in the handler.
  void* warm[2];
  (void)::backtrace(warm, 2);
  ensure_alternate_signal_stack();
  struct sigaction sa {};
  sa.sa_sigaction = on_fatal_signal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGPIPE);  // a closed stderr must not end the report
  for (int sig : kFatalSignals) ::sigaction(sig, &sa, nullptr);
}

}  // namespace manta::engine
