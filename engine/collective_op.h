// The steps of one collective operation on this rank (see CollectiveOp in collective_group.h):
// prepare on the last arriving member's thread, start and advance with MPI held, distribute on
// the preparing member's thread once the data has moved.
#pragma once

#include <optional>
#include <string>

#include "engine/collective_group.h"

namespace manta::engine::collective_op {

/// The members on this rank have all arrived: compares their calls, combines their data and
/// writes this rank's header. Touches only `op` (nobody else does meanwhile).
void prepare(const CollectiveGroup& g, CollectiveOp& op);

/// With MPI held: starts the header exchange; with one rank in the group, finishes at once.
/// Returns a problem with the calls, in words, when one is found.
std::optional<std::string> start(CollectiveGroup& g, CollectiveOp& op);

/// With MPI held: moves the operation on when MPI has finished a step. Returns true when its
/// state changed; `problem` receives what is wrong with the calls, when the headers show it.
bool advance(CollectiveGroup& g, CollectiveOp& op, std::optional<std::string>& problem);

/// Copies the result into each member's buffer.
void distribute(const CollectiveGroup& g, CollectiveOp& op);

/// Its members leave before MPI has its data: what MPI may still read moves into the
/// operation's own memory, so that the other ranks' operation completes with the right data.
/// Only before the data step has started.
void abandon(CollectiveOp& op);

}  // namespace manta::engine::collective_op
