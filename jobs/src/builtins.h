// The functions of the expression language: name, parameters and what each does over the arrays API.
// Internal to jobs/.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "evaluator.h"

namespace tessera::jobs::detail {

struct Function {
  std::string name;
  std::vector<Param> params;
  std::function<ExprValue(Evaluator&, Call&)> impl;

  std::string signature() const {
    std::string s = name + "(";
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (i) s += ", ";
      s += params[i].name;
      if (!params[i].required) s += "=" + (params[i].default_text.empty() ? "None" : params[i].default_text);
    }
    return s + ")";
  }
};

const std::vector<Function>& functions();
// nullptr when there is no function of that name.
const Function* find_function(const std::string& name);
std::vector<std::string> function_names();

}  // namespace tessera::jobs::detail
