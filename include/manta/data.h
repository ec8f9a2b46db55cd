// Datasets: rows in blocks in the object store, transformed lazily, streamed through the job's
// ranks within a store budget. See manta/data/dataset.h, and docs/data.md.
#pragma once

#include <manta/data/aggregate.h>
#include <manta/data/dataset.h>
#include <manta/data/errors.h>
#include <manta/data/io.h>
#include <manta/data/sources.h>
#include <manta/data/stats.h>
