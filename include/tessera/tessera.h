// Everything a tessera program needs: the runtime, chunked arrays, file input and output, and Slurm
// awareness (the modules tessera::tessera links).
#pragma once

#include "tessera/arrays.h"
#include "tessera/io/cf_time.h"
#include "tessera/io/io.h"
#include "tessera/runtime/buffer.h"
#include "tessera/runtime/delayed.h"
#include "tessera/runtime/error.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/format.h"
#include "tessera/runtime/graph.h"
#include "tessera/runtime/live_view.h"
#include "tessera/runtime/mpi_executor.h"
#include "tessera/runtime/plan.h"
#include "tessera/runtime/runtime.h"
#include "tessera/runtime/stop.h"
#include "tessera/runtime/topology.h"
#include "tessera/runtime/trace.h"
#include "tessera/runtime/value.h"
#include "tessera/slurm/slurm.h"
#include "tessera/version.h"
