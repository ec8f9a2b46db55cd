// Manta: remote tasks and objects over MPI ranks. The one header an application includes.
#pragma once

#include <manta/actor.h>
#include <manta/array.h>
#include <manta/checkpoint.h>
#include <manta/collective.h>
#include <manta/detail/function_registry.h>
#include <manta/env.h>
#include <manta/errors.h>
#include <manta/hardware.h>
#include <manta/ids.h>
#include <manta/init.h>
#include <manta/memory.h>
#include <manta/object_ref.h>
#include <manta/objects.h>
#include <manta/options.h>
#include <manta/placement_group.h>
#include <manta/serialization.h>
#include <manta/stats.h>
#include <manta/task.h>
