// Chunked N-d arrays (like dask.array).
#pragma once

#include "tessera/arrays/array.h"
#include "tessera/arrays/chunk.h"
#include "tessera/arrays/dtype.h"
