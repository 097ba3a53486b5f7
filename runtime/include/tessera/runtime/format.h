// Numbers for people: one way to print sizes across the command line, reports and reprs.
#pragma once

#include <string>

namespace tessera {

// Bytes in powers of 1000 with three significant figures, as Dask and NumPy users read them: "512 B",
// "4.73 MB", "47.3 MB", "757 MB", "1.06 GB".
std::string format_bytes(double bytes);

}  // namespace tessera
