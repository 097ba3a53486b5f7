// Reading the numbers Slurm writes (private to the slurm module).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tessera::slurm::detail {

std::string trim(std::string s);

// A whole non-negative decimal number (at most 18 digits), or nullopt.
std::optional<std::int64_t> number(const std::string& s);

// `value` as a whole number in [1, 1000000]; throws Error(kInvalidArgument) naming `name` and the value.
int positive(const std::string& name, const std::string& value);

}  // namespace tessera::slurm::detail
