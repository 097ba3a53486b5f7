// Everything a tessera program needs.
#pragma once

#include "tessera/arrays.h"
#include "tessera/runtime/buffer.h"
#include "tessera/runtime/delayed.h"
#include "tessera/runtime/error.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/graph.h"
#include "tessera/runtime/plan.h"
#include "tessera/runtime/runtime.h"
#include "tessera/runtime/topology.h"
#include "tessera/runtime/value.h"
#include "tessera/version.h"
