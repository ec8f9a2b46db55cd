// manta::collective: the public functions, each a call into this rank's CollectiveGroups.
#include <manta/collective.h>
#include <manta/errors.h>

#include "engine/runtime.h"

namespace manta::collective {
namespace {

engine::CollectiveGroups& groups() {
  engine::Runtime* r = engine::Runtime::instance();
  if (!r || !r->is_open()) {
    ErrorInfo info;
    info.kind = ErrorKind::shutdown;
    info.message =
        "Manta is not running: call manta::init(argc, argv) first (and not after shutdown)";
    throw RuntimeStoppedError(std::move(info));
  }
  return r->parts().collectives;
}

}  // namespace

namespace detail {

void run(std::string_view group, const Call& call) { groups().run(group, call); }

void create_group(const std::string& name, const std::vector<ActorId>& members) {
  groups().create(name, members);
}

}  // namespace detail

void destroy_group(const std::string& name) { groups().destroy(name); }
int rank(std::string_view group) { return groups().rank_in(group); }
int size(std::string_view group) { return groups().size_of(group); }
bool group_exists(const std::string& name) { return groups().exists(name); }

}  // namespace manta::collective
