// The functions of the expression language: name, parameters and what each does over the arrays API.
// Internal to jobs/.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "evaluator.h"

namespace tessera::jobs::detail {

struct Function {
  std::string name;
  std::vector<Param> params;
  std::function<ExprValue(Evaluator&, Call&)> impl;
  // Non-empty: keyword arguments that name no parameter are accepted (Call::extra), shown in the signature
  // as this text (sel's "DIM=VALUE").
  std::string extra_keywords;

  std::string signature() const {
    std::string s = name + "(";
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (i) s += ", ";
      s += params[i].name;
      if (!params[i].required) s += "=" + (params[i].default_text.empty() ? "None" : params[i].default_text);
    }
    if (!extra_keywords.empty()) s += (params.empty() ? "" : ", ") + extra_keywords + ", ...";
    return s + ")";
  }
};

const std::vector<Function>& functions();
// The functions of climate archives (climate_functions.cc): sel, resample, fldmean, area_weights.
void add_climate_functions(std::vector<Function>& table);

// CF's name of a reduction for cell_methods ("mean", "minimum", "standard_deviation"; "" when CF has none).
std::string cf_method(std::string how);
// `out` was made from `from` by reducing `axes` with `how`: it keeps from's cell_methods and adds "DIM:
// method" for each named axis.
void reduced_cell_methods(ExprValue& out, const ExprValue& from, std::span<const int> axes,
                          const std::string& how);
// nullptr when there is no function of that name.
const Function* find_function(const std::string& name);
std::vector<std::string> function_names();

}  // namespace tessera::jobs::detail
