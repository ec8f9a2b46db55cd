// The error datasets throw on the driver for bad input: a file that is missing or malformed, an
// option out of range. Failures inside tasks reach the driver as TaskError.
#pragma once

#include <stdexcept>
#include <string>

namespace manta::data {

/// Bad input to a dataset operation; the message names the operation, the input and the fix.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace manta::data

namespace manta::data {

/// A transform threw inside a task: the message names the transform, the operator and the block
/// (and the original exception's type and message). It reaches the driver as a TaskError whose
/// cause is this message.
class OperatorError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace manta::data
