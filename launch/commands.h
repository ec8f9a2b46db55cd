// The manta command's subcommands. main_command parses argv and runs one of them.
#pragma once

#include <string>

namespace manta::launch {

/// Returns the process exit code: the job's for `run`, 0 or 2 (bad input) for the others.
int main_command(int argc, char** argv);

/// What `manta --help` prints after the subcommands: every runtime setting, flag and variable.
std::string settings_help_text();

}  // namespace manta::launch
