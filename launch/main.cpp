// The manta command: start a job on the right launcher, and read a job's directory back.
//   manta run [-n N] [options] PROGRAM [ARGS...] [: -n M PROGRAM [ARGS...]]
//   manta status [DIR] [--watch SECONDS]
//   manta timeline [DIR] [-o FILE]
//   manta config [--manta-SETTING=VALUE...]
//   manta clean [DIR...] [--dry-run]
//   manta version
#include <cstdio>
#include <exception>

#include "launch/commands.h"

int main(int argc, char** argv) {
  try {
    return manta::launch::main_command(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "manta: %s\n", e.what());
    return 2;
  }
}
