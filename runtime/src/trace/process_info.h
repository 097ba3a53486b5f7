// What a recording says about the process and its job: the time, Slurm's job id, memory and CPU time.
#pragma once

#include <cstdint>
#include <string>

#include "tessera/runtime/trace.h"

namespace tessera::detail {

// "2026-11-30T00:39:31Z".
std::string iso_time_now();
// SLURM_JOB_ID, or empty.
std::string slurm_job_id();

// This process's resident bytes and CPU seconds now.
ResourceSample sample_resources(int rank, double time, std::uint64_t live_bytes);

}  // namespace tessera::detail
