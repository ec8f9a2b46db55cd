// Must not compile: data/ uses the engine through its public API only.
#include "engine/object_store.h"
