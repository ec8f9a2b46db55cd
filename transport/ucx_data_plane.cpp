#include "transport/ucx_data_plane.h"

#include <ucp/api/ucp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

#include "transport/wire.h"

namespace manta::transport {
namespace {

// Descriptor: u64 address, u64 size, u32 key length, then the packed key.
constexpr std::size_t kDescriptorHeader = 8 + 8 + 4;
// Endpoints of peers that are gone may never finish closing; the destructor gives up after this.
constexpr auto kShutdownLimit = std::chrono::seconds(1);
// Connecting to every rank at start-up; past this the data plane is declared unavailable.
constexpr auto kSettleLimit = std::chrono::seconds(30);
// Rounds of ucp_worker_progress per progress() call: enough to drain a burst of completions
// without starving the reads' next chunks.
constexpr int kProgressRounds = 16;

std::string status_text(ucs_status_t status) {
  return std::string(ucs_status_string(status)) + " (" + std::to_string(static_cast<int>(status)) +
         ")";
}

struct Descriptor {
  std::uint64_t address = 0;
  std::uint64_t size = 0;
  std::span<const std::byte> rkey;
};

/// Empty on success, else why the bytes are not a descriptor.
std::string decode(std::span<const std::byte> in, Descriptor& d) {
  if (in.size() < kDescriptorHeader) {
    return "the descriptor of " + std::to_string(in.size()) + " bytes is truncated (at least " +
           std::to_string(kDescriptorHeader) + " expected)";
  }
  std::uint32_t key_size = 0;
  std::memcpy(&d.address, in.data(), 8);
  std::memcpy(&d.size, in.data() + 8, 8);
  std::memcpy(&key_size, in.data() + 16, 4);
  if (in.size() - kDescriptorHeader != key_size) {
    return "the descriptor of " + std::to_string(in.size()) + " bytes does not hold its " +
           std::to_string(key_size) + "-byte remote key";
  }
  d.rkey = in.subspan(kDescriptorHeader);
  return {};
}

void encode(Buffer& out, const std::byte* data, std::size_t size, std::span<const std::byte> rkey) {
  WireWriter w(out);
  w.put<std::uint64_t>(reinterpret_cast<std::uintptr_t>(data))
      .put<std::uint64_t>(size)
      .put<std::uint32_t>(static_cast<std::uint32_t>(rkey.size()));
  out.append(rkey.data(), rkey.size());
}

/// "sysv/memory (am am_bw), posix/memory" from ucp_ep_print_info's lane lines, which look like
/// "#   lane[0]:  3:sysv/memory.0 md[2]   -> md[2]/sysv/sysdev[255] am am_bw#0".
std::string summarize_lanes(const std::string& info) {
  std::string out;
  std::size_t at = 0;
  while ((at = info.find("lane[", at)) != std::string::npos) {
    const std::size_t end = std::min(info.find('\n', at), info.size());
    std::istringstream line(info.substr(at, end - at));
    at = end;
    std::string index, resource, word;
    line >> index >> resource;
    resource = resource.substr(resource.find(':') + 1);  // drop the resource number
    if (const auto dot = resource.rfind('.'); dot != std::string::npos) resource.resize(dot);
    while (line >> word && word != "->") continue;  // the local side
    line >> word;                                   // the remote md
    std::string usage;
    while (line >> word) {
      if (const auto hash = word.find('#'); hash != std::string::npos) word.resize(hash);
      usage += (usage.empty() ? "" : " ") + word;
    }
    if (resource.empty()) continue;
    if (!out.empty()) out += ", ";
    out += resource + (usage.empty() ? "" : " (" + usage + ")");
  }
  return out;
}

}  // namespace

struct UcxDataPlane::State {
  struct Region {
    const std::byte* data = nullptr;
    std::size_t size = 0;
    ucp_mem_h memh = nullptr;
    Buffer rkey;  // packed
    std::size_t references = 0;
  };
  struct Read {
    int peer = 0;
    std::byte* dest = nullptr;
    std::size_t size = 0;
    std::uint64_t remote = 0;
    ucp_rkey_h rkey = nullptr;
    std::size_t posted = 0;       // bytes handed to ucp_get_nbx (or copied, for this rank)
    std::size_t outstanding = 0;  // chunks whose request has not completed
    ucs_status_t status = UCS_OK;
    std::string error;  // found before any chunk was posted
    Done done;
  };

  Options options;
  int rank = 0;
  int size = 1;
  ucp_context_h context = nullptr;
  ucp_worker_h worker = nullptr;
  Buffer address;  // this worker's, for the other ranks
  // Every rank's worker address, back to back (rank r's from offsets[r] to offsets[r + 1]); kept
  // only while endpoints are made on first use. One buffer, not one allocation per rank.
  Buffer address_book;
  std::vector<std::size_t> address_offsets;
  std::uint64_t address_bytes = 0;  // what the exchange brought, kept or not
  // By rank; none to this rank. Made, read and closed only with `mutex` held, like every other
  // use of the serialized worker, so making one on first use needs no lock of its own.
  std::vector<ucp_ep_h> endpoints;
  std::uint64_t endpoints_eager = 0;
  std::uint64_t endpoints_on_first_use = 0;

  mutable std::mutex mutex;
  std::map<std::uint64_t, Region> regions;                                    // by handle
  std::map<std::pair<std::uintptr_t, std::size_t>, std::uint64_t> region_of;  // by range
  std::uint64_t next_handle = 1;
  std::vector<std::unique_ptr<Read>> reads;  // stable: the requests' user data points at them
  std::atomic<std::size_t> unfinished{0};    // reads whose done has not run

  ~State() { shutdown(); }

  static void on_chunk(void* request, ucs_status_t status, void* user_data) {
    auto* read = static_cast<Read*>(user_data);
    --read->outstanding;
    if (status != UCS_OK && read->status == UCS_OK) read->status = status;
    ucp_request_free(request);
  }

  /// Context, worker and its address; empty on success, else why not. With every rank on this
  /// node, UCX keeps to shared memory: its network transports would listen on every interface.
  std::string open(bool node_local) {
    if (options.chunk_size == 0 || options.chunks_in_flight == 0) {
      return "the chunk size and chunks in flight must be at least 1";
    }
    if (options.eager_endpoints < 0) return "the eager endpoint limit must be at least 0";
    ucp_config_t* config = nullptr;
    // No prefix and no file: UCX_* environment variables still apply.
    ucs_status_t st = ucp_config_read(nullptr, nullptr, &config);
    if (st != UCS_OK) return "ucp_config_read: " + status_text(st);
    if (node_local && std::getenv("UCX_TLS") == nullptr) {
      st = ucp_config_modify(config, "TLS", "self,sm");
      if (st != UCS_OK) {
        ucp_config_release(config);
        return "ucp_config_modify(TLS=self,sm): " + status_text(st);
      }
    }
    ucp_params_t params{};
    params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_MT_WORKERS_SHARED |
                        UCP_PARAM_FIELD_ESTIMATED_NUM_EPS | UCP_PARAM_FIELD_NAME;
    params.features = UCP_FEATURE_RMA;
    params.mt_workers_shared = 0;
    // The job's size even when few endpoints are made: UCX picks transports that scale to it.
    params.estimated_num_eps = static_cast<std::size_t>(size);
    params.name = "manta";
    st = ucp_init(&params, config, &context);
    ucp_config_release(config);
    if (st != UCS_OK) {
      context = nullptr;
      return "ucp_init: " + status_text(st);
    }
    ucp_worker_params_t wp{};
    wp.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
    wp.thread_mode = UCS_THREAD_MODE_SERIALIZED;  // callers hold `mutex`
    st = ucp_worker_create(context, &wp, &worker);
    if (st != UCS_OK) {
      worker = nullptr;
      return "ucp_worker_create: " + status_text(st);
    }
    ucp_address_t* addr = nullptr;
    std::size_t length = 0;
    st = ucp_worker_get_address(worker, &addr, &length);
    if (st != UCS_OK) return "ucp_worker_get_address: " + status_text(st);
    address = Buffer(addr, length);
    ucp_worker_release_address(worker, addr);
    return {};
  }

  /// Collective: every rank's worker address into the address book.
  void exchange_addresses(MPI_Comm comm) {
    const int mine = static_cast<int>(address.size());
    std::vector<int> counts(static_cast<std::size_t>(size)), displs(counts.size());
    MPI_Allgather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, comm);
    address_offsets.assign(counts.size() + 1, 0);
    for (std::size_t r = 0; r < counts.size(); ++r) {
      displs[r] = static_cast<int>(address_offsets[r]);
      address_offsets[r + 1] = address_offsets[r] + static_cast<std::size_t>(counts[r]);
    }
    address_book = Buffer(address_offsets.back());
    MPI_Allgatherv(address.data(), mine, MPI_BYTE, address_book.data(), counts.data(),
                   displs.data(), MPI_BYTE, comm);
    address_bytes = address_book.size();
  }

  /// Makes the endpoint to rank `r` from its address; empty on success, else why not.
  std::string make_endpoint(int r) {
    const auto at = static_cast<std::size_t>(r);
    ucp_ep_params_t ep{};
    // No peer error handling: UCX 1.13 then drops the shared-memory transports (they cannot
    // detect peer failure) and reads within a node go over tcp loopback, ~8x slower.
    ep.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE;
    ep.address = reinterpret_cast<const ucp_address_t*>(address_book.data() + address_offsets[at]);
    ep.err_mode = UCP_ERR_HANDLING_MODE_NONE;
    const ucs_status_t st = ucp_ep_create(worker, &ep, &endpoints[at]);
    if (st != UCS_OK) {
      endpoints[at] = nullptr;
      return "ucp_ep_create to rank " + std::to_string(r) + ": " + status_text(st);
    }
    return {};
  }

  /// Up to eager_endpoints ranks, an endpoint to every other rank now (and the addresses are
  /// dropped); past it none, and the addresses are kept for first use. Empty on success.
  std::string connect() {
    endpoints.assign(static_cast<std::size_t>(size), nullptr);
    if (size > options.eager_endpoints) return {};
    for (int r = 0; r < size; ++r) {
      if (r == rank) continue;  // reads from this rank are plain copies
      if (auto why = make_endpoint(r); !why.empty()) return why;
      ++endpoints_eager;
    }
    address_book = Buffer();
    address_offsets = {};
    return {};
  }

  /// The endpoint to another rank, made now if this is the first read from it; null with
  /// *why_not on failure. With `mutex` held: concurrent first reads make one endpoint.
  ucp_ep_h endpoint(int r, std::string* why_not) {
    ucp_ep_h& ep = endpoints[static_cast<std::size_t>(r)];
    if (ep) return ep;
    if (address_offsets.empty()) {
      *why_not = "no endpoint to the rank and no address to make one";
      return nullptr;
    }
    *why_not = make_endpoint(r);
    if (ep) ++endpoints_on_first_use;
    return ep;
  }

  /// Flushes every endpoint made at start while all ranks progress, so that connections (tcp
  /// connects lazily) are up before any rank may leave: connection attempts to a rank that has gone
  /// fail noisily. Collective; empty on success, else why not.
  std::string settle(MPI_Comm comm) {
    std::string error;
    const auto note = [&](int r, ucs_status_t st) {
      if (error.empty()) {
        error = "flushing the endpoint to rank " + std::to_string(r) + ": " + status_text(st);
      }
    };
    std::vector<std::pair<int, ucs_status_ptr_t>> flushing;
    for (int r = 0; r < size; ++r) {
      if (ucp_ep_h ep = endpoints[static_cast<std::size_t>(r)]) {
        ucp_request_param_t param{};
        const ucs_status_ptr_t sp = ucp_ep_flush_nbx(ep, &param);
        if (UCS_PTR_IS_ERR(sp)) note(r, UCS_PTR_STATUS(sp));
        if (UCS_PTR_IS_PTR(sp)) flushing.emplace_back(r, sp);
      }
    }
    // Each rank joins the barrier once its own flushes are done and keeps progressing until
    // all have joined, so the others' flushes, which need it, finish too.
    const auto deadline = std::chrono::steady_clock::now() + kSettleLimit;
    MPI_Request barrier = MPI_REQUEST_NULL;
    int passed = 0;
    while (!passed) {
      ucp_worker_progress(worker);
      std::erase_if(flushing, [&](const auto& f) {
        const ucs_status_t st = ucp_request_check_status(f.second);
        if (st == UCS_INPROGRESS) return false;
        if (st != UCS_OK) note(f.first, st);
        ucp_request_free(f.second);
        return true;
      });
      const bool late = std::chrono::steady_clock::now() > deadline;
      if (barrier == MPI_REQUEST_NULL && (flushing.empty() || late)) {
        if (!flushing.empty()) note(flushing.front().first, UCS_ERR_TIMED_OUT);
        MPI_Ibarrier(comm, &barrier);
      }
      if (barrier != MPI_REQUEST_NULL) MPI_Test(&barrier, &passed, MPI_STATUS_IGNORE);
    }
    for (const auto& f : flushing) ucp_request_free(f.second);  // released when they complete
    return error;
  }

  /// Validates the descriptor and readies `r` for posting; empty on success. With `mutex` held.
  std::string prepare(Read& r, std::span<const std::byte> descriptor) {
    if (r.peer < 0 || r.peer >= size) {
      return "there is no such rank (" + std::to_string(size) + " ranks)";
    }
    Descriptor d;
    if (auto why = decode(descriptor, d); !why.empty()) return why;
    if (r.size > d.size) {
      return "the read asks for more than the " + std::to_string(d.size) + "-byte region";
    }
    if (d.address + d.size < d.address) return "the descriptor's region wraps around";
    r.remote = d.address;
    if (r.size == 0) return {};
    if (r.peer == rank) {
      // A local copy must not trust the address: it has to be a range exposed here.
      if (!region_of.contains({static_cast<std::uintptr_t>(d.address), d.size})) {
        return "the region is not exposed on this rank";
      }
      return {};
    }
    if (d.rkey.empty()) return "the descriptor has no remote key";
    std::string why;
    ucp_ep_h ep = endpoint(r.peer, &why);
    if (!ep) return why;
    // ucp parses the key with word loads: give it an aligned copy.
    std::vector<std::uint64_t> key((d.rkey.size() + 7) / 8);
    std::memcpy(key.data(), d.rkey.data(), d.rkey.size());
    const ucs_status_t st = ucp_ep_rkey_unpack(ep, key.data(), &r.rkey);
    if (st != UCS_OK) {
      r.rkey = nullptr;
      return "ucp_ep_rkey_unpack: " + status_text(st);
    }
    return {};
  }

  /// Posts chunks up to the window; true if it posted any. With `mutex` held.
  bool post(Read& r) {
    if (r.peer == rank || !r.error.empty()) return false;
    ucp_ep_h ep = endpoints[static_cast<std::size_t>(r.peer)];
    bool posted = false;
    // At most one window per call, also when chunks complete inline, so that one large read
    // does not hold the mutex for all of its bytes.
    for (std::size_t n = 0; n < options.chunks_in_flight && r.status == UCS_OK &&
                            r.posted < r.size && r.outstanding < options.chunks_in_flight;
         ++n) {
      const std::size_t length = std::min(options.chunk_size, r.size - r.posted);
      ucp_request_param_t param{};
      param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
      param.cb.send = &State::on_chunk;
      param.user_data = &r;
      const ucs_status_ptr_t sp =
          ucp_get_nbx(ep, r.dest + r.posted, length, r.remote + r.posted, r.rkey, &param);
      if (UCS_PTR_IS_ERR(sp)) {
        r.status = UCS_PTR_STATUS(sp);
        break;
      }
      if (sp != nullptr) ++r.outstanding;  // else it completed inline
      r.posted += length;
      posted = true;
    }
    return posted;
  }

  [[nodiscard]] bool finished(const Read& r) const {
    return r.outstanding == 0 && (r.posted == r.size || r.status != UCS_OK || !r.error.empty());
  }

  /// Releases the read's key and says how it ended (empty: success). With `mutex` held.
  std::string finish(Read& r, const char* abandoned = nullptr) {
    if (r.rkey && r.outstanding == 0) {
      ucp_rkey_destroy(r.rkey);
      r.rkey = nullptr;
    }
    std::string why = r.error;
    if (why.empty() && r.status != UCS_OK) why = "ucp_get_nbx: " + status_text(r.status);
    if (why.empty() && (r.posted != r.size || r.outstanding != 0) && abandoned) why = abandoned;
    if (why.empty()) return {};
    return "manta: UCX read of " + std::to_string(r.size) + " bytes from rank " +
           std::to_string(r.peer) + " failed: " + why;
  }

  /// Ends every read and releases UCX (bounded in time). Returns the reads' callbacks with
  /// their outcome, for the caller to run without `mutex`.
  std::vector<std::pair<Done, std::string>> shutdown() {
    std::vector<std::pair<Done, std::string>> out;
    std::lock_guard lock(mutex);
    const auto deadline = std::chrono::steady_clock::now() + kShutdownLimit;
    const auto in_flight = [&] {
      return std::any_of(reads.begin(), reads.end(), [](const auto& r) { return r->outstanding; });
    };
    // Let posted chunks land: keys may be destroyed only once nothing uses them.
    while (worker && in_flight() && std::chrono::steady_clock::now() < deadline) {
      ucp_worker_progress(worker);
    }
    for (auto& r : reads) {
      if (r->rkey && r->outstanding == 0) {
        ucp_rkey_destroy(r->rkey);
        r->rkey = nullptr;
      }
    }
    // Forced close: it never waits for the peer, which may be gone. (A flushing close logs
    // errors over tcp when the peer closed first.)
    std::vector<ucs_status_ptr_t> closing;
    for (ucp_ep_h& ep : endpoints) {
      if (!ep) continue;
      ucp_request_param_t param{};
      param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
      param.flags = UCP_EP_CLOSE_FLAG_FORCE;
      const ucs_status_ptr_t sp = ucp_ep_close_nbx(ep, &param);
      if (UCS_PTR_IS_PTR(sp)) closing.push_back(sp);
      ep = nullptr;
    }
    while (!closing.empty() && std::chrono::steady_clock::now() < deadline) {
      ucp_worker_progress(worker);
      std::erase_if(closing, [](ucs_status_ptr_t sp) {
        if (ucp_request_check_status(sp) == UCS_INPROGRESS) return false;
        ucp_request_free(sp);
        return true;
      });
    }
    for (ucs_status_ptr_t sp : closing) ucp_request_free(sp);  // released when it completes
    for (auto& r : reads) {
      // A key whose chunks never completed is left to the worker's teardown: destroying it
      // while a request may still use it, or after its endpoint, is undefined.
      r->rkey = nullptr;
      out.emplace_back(std::move(r->done), finish(*r, "the data plane shut down first"));
    }
    for (auto& [handle, region] : regions) ucp_mem_unmap(context, region.memh);
    regions.clear();
    region_of.clear();
    if (worker) ucp_worker_destroy(worker);
    worker = nullptr;
    // Reads point into `reads`; only now can no callback reach them.
    reads.clear();
    if (context) ucp_cleanup(context);
    context = nullptr;
    return out;
  }
};

namespace {

/// Runs the callbacks (without any lock held) and counts them off; the first exception is
/// rethrown once all have run, so every done still runs exactly once.
void run_callbacks(std::vector<std::pair<UcxDataPlane::Done, std::string>>& callbacks,
                   std::atomic<std::size_t>& unfinished) {
  std::exception_ptr first;
  for (auto& [done, error] : callbacks) {
    try {
      if (done) done(std::move(error));
    } catch (...) {
      if (!first) first = std::current_exception();
    }
    unfinished.fetch_sub(1, std::memory_order_acq_rel);
  }
  if (first) std::rethrow_exception(first);
}

/// True if `error` is empty on every rank; else *why_not says why (this rank's reason, or the
/// first rank that failed).
bool agree(MPI_Comm comm, int rank, const std::string& error, std::string* why_not) {
  struct {
    int ok;
    int rank;
  } mine{error.empty() ? 1 : 0, rank}, all{0, 0};
  MPI_Allreduce(&mine, &all, 1, MPI_2INT, MPI_MINLOC, comm);
  if (all.ok) return true;
  if (why_not) {
    *why_not = "manta: the UCX data plane is unavailable: " +
               (error.empty() ? "it failed on rank " + std::to_string(all.rank) : error);
  }
  return false;
}

}  // namespace

UcxDataPlane::UcxDataPlane(std::unique_ptr<State> state)
    : state_(std::move(state)), rank_(state_->rank), size_(state_->size) {}

std::unique_ptr<UcxDataPlane> UcxDataPlane::create(MPI_Comm comm, Options options,
                                                   std::string* why_not) {
  auto state = std::make_unique<State>();
  state->options = options;
  MPI_Comm_rank(comm, &state->rank);
  MPI_Comm_size(comm, &state->size);
  // Every rank on one node (MPI_COMM_TYPE_SHARED says so): no network transports.
  MPI_Comm node;
  MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, state->rank, MPI_INFO_NULL, &node);
  int node_size = 0;
  MPI_Comm_size(node, &node_size);
  MPI_Comm_free(&node);
  const bool node_local = node_size == state->size;
  if (!agree(comm, state->rank, state->open(node_local), why_not)) return nullptr;
  state->exchange_addresses(comm);
  if (!agree(comm, state->rank, state->connect(), why_not)) return nullptr;
  if (!agree(comm, state->rank, state->settle(comm), why_not)) return nullptr;
  if (why_not) why_not->clear();
  return std::unique_ptr<UcxDataPlane>(new UcxDataPlane(std::move(state)));
}

UcxDataPlane::~UcxDataPlane() {
  auto callbacks = state_->shutdown();
  try {
    run_callbacks(callbacks, state_->unfinished);
  } catch (...) {
    // A destructor must not throw; the callbacks have all run.
  }
}

std::uint64_t UcxDataPlane::expose(const std::byte* data, std::size_t size, Buffer& descriptor) {
  if (size == 0) {
    encode(descriptor, data, 0, {});
    return 0;
  }
  State& s = *state_;
  std::lock_guard lock(s.mutex);
  const std::pair key{reinterpret_cast<std::uintptr_t>(data), size};
  if (auto it = s.region_of.find(key); it != s.region_of.end()) {
    State::Region& region = s.regions.at(it->second);
    ++region.references;
    encode(descriptor, data, size, region.rkey.span());
    return it->second;
  }
  ucp_mem_map_params_t params{};
  params.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH;
  params.address = const_cast<std::byte*>(data);  // registered, never written through
  params.length = size;
  ucp_mem_h memh = nullptr;
  ucs_status_t st = ucp_mem_map(s.context, &params, &memh);
  if (st != UCS_OK) {
    throw std::runtime_error("manta: ucp_mem_map of " + std::to_string(size) +
                             " bytes failed: " + status_text(st));
  }
  void* packed = nullptr;
  std::size_t packed_size = 0;
  st = ucp_rkey_pack(s.context, memh, &packed, &packed_size);
  if (st != UCS_OK) {
    ucp_mem_unmap(s.context, memh);
    throw std::runtime_error("manta: ucp_rkey_pack failed: " + status_text(st));
  }
  State::Region region;
  region.data = data;
  region.size = size;
  region.memh = memh;
  region.rkey = Buffer(packed, packed_size);
  region.references = 1;
  ucp_rkey_buffer_release(packed);
  const std::uint64_t handle = s.next_handle++;
  encode(descriptor, data, size, region.rkey.span());
  s.regions.emplace(handle, std::move(region));
  s.region_of.emplace(key, handle);
  return handle;
}

void UcxDataPlane::unexpose(std::uint64_t handle) {
  State& s = *state_;
  std::lock_guard lock(s.mutex);
  auto it = s.regions.find(handle);
  if (it == s.regions.end() || --it->second.references > 0) return;
  ucp_mem_unmap(s.context, it->second.memh);
  s.region_of.erase({reinterpret_cast<std::uintptr_t>(it->second.data), it->second.size});
  s.regions.erase(it);
}

void UcxDataPlane::get(int peer, std::span<const std::byte> descriptor, std::byte* dest,
                       std::size_t size, Done done) {
  State& s = *state_;
  auto read = std::make_unique<State::Read>();
  read->peer = peer;
  read->dest = dest;
  read->size = size;
  read->done = std::move(done);
  s.unfinished.fetch_add(1, std::memory_order_acq_rel);
  std::unique_lock lock(s.mutex);
  read->error = s.prepare(*read, descriptor);
  if (read->error.empty() && peer == rank_ && size > 0) {
    // The copy runs without the mutex; the range stays valid while exposed, as for peers.
    lock.unlock();
    std::memcpy(dest, reinterpret_cast<const std::byte*>(read->remote), size);
    lock.lock();
    read->posted = size;
  } else {
    s.post(*read);
  }
  s.reads.push_back(std::move(read));
}

bool UcxDataPlane::progress() {
  State& s = *state_;
  std::vector<std::pair<Done, std::string>> callbacks;
  bool active = false;
  {
    std::lock_guard lock(s.mutex);
    for (int i = 0; i < kProgressRounds && ucp_worker_progress(s.worker) != 0; ++i) active = true;
    for (std::size_t i = 0; i < s.reads.size();) {
      State::Read& r = *s.reads[i];
      if (s.post(r)) active = true;
      if (!s.finished(r)) {
        ++i;
        continue;
      }
      callbacks.emplace_back(std::move(r.done), s.finish(r));
      s.reads[i] = std::move(s.reads.back());
      s.reads.pop_back();
    }
  }
  if (callbacks.empty()) return active;
  run_callbacks(callbacks, s.unfinished);
  return true;
}

bool UcxDataPlane::busy() const { return state_->unfinished.load(std::memory_order_acquire) > 0; }

std::string UcxDataPlane::transports(int peer) const {
  if (peer == rank_) return "memcpy";
  if (peer < 0 || peer >= size_) return {};
  const State& s = *state_;
  char* text = nullptr;
  std::size_t length = 0;
  FILE* f = open_memstream(&text, &length);
  if (!f) return {};
  {
    std::lock_guard lock(s.mutex);
    if (ucp_ep_h ep = s.endpoints[static_cast<std::size_t>(peer)]) ucp_ep_print_info(ep, f);
  }
  std::fclose(f);
  const std::string info(text ? text : "", length);
  std::free(text);
  return summarize_lanes(info);
}

bool UcxDataPlane::connected(int peer) const {
  if (peer < 0 || peer >= size_) return false;
  std::lock_guard lock(state_->mutex);
  return state_->endpoints[static_cast<std::size_t>(peer)] != nullptr;
}

UcxDataPlane::Stats UcxDataPlane::stats() const {
  const State& s = *state_;
  std::lock_guard lock(s.mutex);
  return {s.endpoints_eager, s.endpoints_on_first_use, s.address_bytes};
}

}  // namespace manta::transport
