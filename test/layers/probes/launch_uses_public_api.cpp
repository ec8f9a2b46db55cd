// Control: launch/ sees its own folder and the public API.
#include <manta/manta.h>

#include "launch/launch_plan.h"

int probe_launch_uses() { return 0; }
