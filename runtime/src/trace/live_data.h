// A live snapshot as the report page's data (the report's JSON schema, report.cc), so that the dashboard's
// page draws a running job with the report's own code.
#pragma once

#include <string>

#include "tessera/runtime/live_view.h"

namespace tessera::detail {

// The JSON object the page draws: the run so far, the task stream of the snapshot's recent tasks from
// `window_seconds` before its elapsed time on, and a "live" member (run, done, total, finished).
std::string live_data(const LiveSnapshot& snapshot, double window_seconds = 300);

}  // namespace tessera::detail
