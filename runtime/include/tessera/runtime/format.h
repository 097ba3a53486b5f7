// Numbers for people: one way to print and to read sizes across the command line, job files, the
// environment, reports and reprs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tessera {

// Bytes in powers of 1000 with three significant figures, as Dask and NumPy users read them: "512 B",
// "4.73 MB", "47.3 MB", "757 MB", "1.06 GB".
std::string format_bytes(double bytes);

// A size as a person writes it, in bytes: "4096", "8GB", "512 MiB", "1.5G", "2e9". A bare number is bytes.
// Decimal units (powers of 1000, as Dask reads them): B, k/kB, M/MB, G/GB, T/TB, P/PB; binary units (powers
// of 1024): KiB, MiB, GiB, TiB, PiB. Units are case-insensitive, spaces are ignored. This is tessera's only
// size syntax (job files, the command line, TESSERA_MEMORY_LIMIT, `tessera slurm --mem`). Throws
// Error(kInvalidArgument) naming `what` and the text when it is not a size or is out of range.
std::uint64_t parse_size(std::string_view text, std::string_view what = "size");

}  // namespace tessera
