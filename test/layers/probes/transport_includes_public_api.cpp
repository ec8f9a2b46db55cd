// Must not compile: of the public headers transport/ sees manta/buffer.h only.
#include <manta/object_ref.h>
