// Must not compile: launch/ is above the engine.
#include "launch/launch_plan.h"
