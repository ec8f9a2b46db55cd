// Must not compile: transport/ is below the engine.
#include "engine/object_store.h"
