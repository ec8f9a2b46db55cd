// Must not compile: gpu/ uses no other layer.
#include "spill/spill_file.h"
