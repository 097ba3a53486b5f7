#include "job_variables.h"

#include <algorithm>
#include <cstdlib>

namespace tessera::jobs {

const std::vector<std::string>& job_variable_names() {
  static const std::vector<std::string> names = {"SLURM_ARRAY_TASK_ID"};
  return names;
}

JobVariables job_variables_from_environment() {
  JobVariables variables;
  for (const std::string& name : job_variable_names()) {
    if (const char* value = std::getenv(name.c_str()); value != nullptr) variables[name] = value;
  }
  return variables;
}

namespace detail {

std::variant<Expansion, ExpansionError> expand_variables(std::string_view text,
                                                         const JobVariables& variables) {
  Expansion e;
  e.text.reserve(text.size());
  auto name_char = [](char c, bool first) {
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (!first && c >= '0' && c <= '9');
  };
  std::size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {  // a literal "${"
      e.text += "${";
      e.origin.push_back(i + 1);
      e.origin.push_back(i + 2);
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      e.text += text[i];
      e.origin.push_back(i);
      ++i;
      continue;
    }
    std::size_t end = i + 2;
    while (end < text.size() && name_char(text[end], end == i + 2)) ++end;
    if (end == text.size() || text[end] != '}' || end == i + 2) {
      return ExpansionError{i, 2, "\"${\" starts no variable here: expected ${NAME}",
                            "write $${ for a literal ${"};
    }
    const std::string name(text.substr(i + 2, end - i - 2));
    const auto& known = job_variable_names();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "${" : ", ${") + k + "}";
      return ExpansionError{i, end + 1 - i, "unknown variable ${" + name + "} (job files know " + list + ")",
                            "write $${ for a literal ${"};
    }
    const auto value = variables.find(name);
    if (value == variables.end()) {
      return ExpansionError{
          i, end + 1 - i,
          "${" + name + "} is not set: this job is meant to run as a task of a Slurm job array",
          "submit it with `tessera slurm JOB --array N`, or try one task here: " + name +
              "=0 tessera run JOB"};
    }
    e.text += value->second;
    e.origin.insert(e.origin.end(), value->second.size(), i);
    i = end + 1;
  }
  e.origin.push_back(text.size());
  return e;
}

}  // namespace detail
}  // namespace tessera::jobs
