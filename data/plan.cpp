// The optimiser: logical plan -> physical plan (fusion, limit pushdown), and their text.
#include <manta/data/plan.h>

#include <algorithm>
#include <functional>
#include <string>

namespace manta::data::detail {
namespace {

using Kind = PhysicalOp::Kind;

std::uint32_t build(const LogicalOp& op, PhysicalPlan& plan);

std::uint32_t push(PhysicalPlan& plan, PhysicalOp p) {
  plan.ops.push_back(std::move(p));
  return static_cast<std::uint32_t>(plan.ops.size() - 1);
}

std::uint32_t build_stage(const LogicalOp& op, PhysicalPlan& plan) {
  const std::uint32_t in = build(*op.inputs.at(0), plan);
  PhysicalOp& prev = plan.ops[in];
  // Fuse into the operator just made (so never one another branch also reads), when both run as
  // tasks: one task per block does the whole chain, no block in between.
  const bool fusable = !op.compute.actors() && in + 1 == plan.ops.size() &&
                       (prev.kind == Kind::read || prev.kind == Kind::map) &&
                       !prev.compute.actors() && prev.compute.resources == op.compute.resources;
  if (fusable) {
    prev.stages.push_back(op.stage);
    prev.name += "->" + op.label;
    prev.out_type = op.row_type;
    return in;
  }
  PhysicalOp p;
  p.kind = Kind::map;
  p.name = op.label;
  p.in_type = prev.out_type;
  p.out_type = op.row_type;
  p.inputs = {in};
  p.stages = {op.stage};
  p.compute = op.compute;
  return push(plan, std::move(p));
}

std::uint32_t build_limit(const LogicalOp& op, PhysicalPlan& plan) {
  const std::uint32_t in = build(*op.inputs.at(0), plan);
  PhysicalOp& prev = plan.ops[in];
  // A read whose transforms all keep rows needs no more than `count` rows from any part.
  if (prev.kind == Kind::read && std::all_of(prev.stages.begin(), prev.stages.end(),
                                             [](const StageSpec& s) { return s.keeps_rows; })) {
    prev.read_limit = prev.read_limit == 0 ? op.count : std::min(prev.read_limit, op.count);
  }
  PhysicalOp p;
  p.kind = Kind::limit;
  p.name = op.label;
  p.in_type = p.out_type = op.row_type;
  p.inputs = {in};
  p.count = op.count;
  return push(plan, std::move(p));
}

std::uint32_t build(const LogicalOp& op, PhysicalPlan& plan) {
  switch (op.kind) {
    case OpKind::blocks: {
      PhysicalOp p;
      p.kind = Kind::blocks;
      p.name = op.label;
      p.in_type = p.out_type = op.row_type;
      p.blocks = op.blocks;
      return push(plan, std::move(p));
    }
    case OpKind::read: {
      PhysicalOp p;
      p.kind = Kind::read;
      p.name = op.label;
      p.in_type = p.out_type = op.row_type;
      p.source = op.source;
      return push(plan, std::move(p));
    }
    case OpKind::stage:
      return build_stage(op, plan);
    case OpKind::limit:
      return build_limit(op, plan);
    case OpKind::union_: {
      PhysicalOp p;
      p.kind = Kind::union_;
      p.name = op.label;
      p.in_type = p.out_type = op.row_type;
      for (const auto& input : op.inputs) p.inputs.push_back(build(*input, plan));
      return push(plan, std::move(p));
    }
    case OpKind::shuffle:
    case OpKind::repartition: {
      const std::uint32_t in = build(*op.inputs.at(0), plan);
      PhysicalOp p;
      p.kind = op.kind == OpKind::shuffle ? Kind::shuffle : Kind::repartition;
      p.name = op.label;
      p.in_type = plan.ops[in].out_type;
      p.out_type = op.row_type;
      p.inputs = {in};
      p.shuffle = op.shuffle;
      p.count = op.count;
      return push(plan, std::move(p));
    }
  }
  return 0;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::blocks:
      return "input";
    case Kind::read:
      return "read";
    case Kind::map:
      return "map";
    case Kind::shuffle:
      return "all-to-all";
    case Kind::repartition:
      return "repartition";
    case Kind::limit:
      return "limit";
    case Kind::union_:
      return "union";
  }
  return "?";
}

}  // namespace

std::optional<std::uint64_t> known_rows(const LogicalOp& op) {
  switch (op.kind) {
    case OpKind::blocks: {
      std::uint64_t n = 0;
      for (const BlockMeta& b : op.blocks) n += b.rows;
      return n;
    }
    case OpKind::read: {
      std::uint64_t n = 0;
      for (const ReadPart& p : op.source.parts) {
        if (p.rows < 0) return std::nullopt;
        n += static_cast<std::uint64_t>(p.rows);
      }
      return n;
    }
    case OpKind::stage:
      if (!op.stage.keeps_rows) return std::nullopt;
      return known_rows(*op.inputs.at(0));
    case OpKind::limit: {
      auto n = known_rows(*op.inputs.at(0));
      if (!n) return std::nullopt;
      return std::min(*n, op.count);
    }
    case OpKind::union_: {
      std::uint64_t n = 0;
      for (const auto& in : op.inputs) {
        auto k = known_rows(*in);
        if (!k) return std::nullopt;
        n += *k;
      }
      return n;
    }
    case OpKind::shuffle:
      if (op.shuffle.kind == ShuffleSpec::Kind::hash) return std::nullopt;
      return known_rows(*op.inputs.at(0));
    case OpKind::repartition:
      return known_rows(*op.inputs.at(0));
  }
  return std::nullopt;
}

PhysicalPlan plan_physical(const LogicalOp& root) {
  PhysicalPlan plan;
  build(root, plan);
  return plan;
}

std::string PhysicalPlan::to_string() const {
  std::string out;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const PhysicalOp& op = ops[i];
    out += std::to_string(i) + " " + kind_name(op.kind) + " " + op.name;
    if (!op.inputs.empty()) {
      out += " <- ";
      for (std::size_t j = 0; j < op.inputs.size(); ++j) {
        if (j) out += ',';  // not "," + to_string: GCC 12 -O3 -Wrestrict false positive
        out += std::to_string(op.inputs[j]);
      }
    }
    if (op.kind == Kind::read) out += " [" + std::to_string(op.source.parts.size()) + " parts]";
    if (op.kind == Kind::blocks) out += " [" + std::to_string(op.blocks.size()) + " blocks]";
    if (op.read_limit != 0) out += " [limit " + std::to_string(op.read_limit) + " pushed down]";
    if (op.compute.actors()) {
      out += " [actor pool " + std::to_string(op.compute.min_actors) + ".." +
             std::to_string(op.compute.max_actors) + "]";
    }
    out += "\n";
  }
  return out;
}

std::string describe_logical(const LogicalOp& root) {
  std::string out;
  std::function<void(const LogicalOp&, int)> walk = [&](const LogicalOp& op, int depth) {
    out += std::string(static_cast<std::size_t>(depth) * 2, ' ') + op.label + "\n";
    for (const auto& in : op.inputs) walk(*in, depth + 1);
  };
  walk(root, 0);
  return out;
}

}  // namespace manta::data::detail
