// Must not compile: spill/ uses no other layer.
#include "transport/wire.h"
