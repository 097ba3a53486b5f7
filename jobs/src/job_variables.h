// ${NAME} in a job file's strings (private to the jobs module; the public side is in job_file.h).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tessera/jobs/job_file.h"

namespace tessera::jobs::detail {

struct Expansion {
  std::string text;
  std::vector<std::size_t> origin;  // per byte of `text`, and one past its end: the offset it came from
};
struct ExpansionError {
  std::size_t offset = 0, length = 1;  // in the unexpanded text
  std::string message, help;
};

// Replaces each ${NAME} by its value; "$${" is a literal "${" and any other '$' stays as it is. An unknown
// name, a known one that is not set, or a "${" without its "}" is an error (returned, not thrown: the caller
// knows where the text sits in the file).
std::variant<Expansion, ExpansionError> expand_variables(std::string_view text,
                                                         const JobVariables& variables);

}  // namespace tessera::jobs::detail
