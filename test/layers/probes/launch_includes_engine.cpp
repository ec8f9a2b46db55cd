// Must not compile: launch/ uses the engine through its public API only.
#include "engine/config.h"
