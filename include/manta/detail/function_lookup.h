// Finding a registered function by the name MANTA_REMOTE gave it: how code that travels as data
// (a dataset's transforms) names a function, since its address differs from rank to rank.
#pragma once

#include <string>

#include <manta/detail/function_registry.h>

namespace manta::detail {

/// The entry registered under `name`, or nullptr (also before init).
const FunctionEntry* find_function_named(const std::string& name);

}  // namespace manta::detail
