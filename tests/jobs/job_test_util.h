// Helpers for the jobs tests: in-memory inputs, CF dates and small job files around one expression.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tessera/io/cf_time.h"
#include "tessera/jobs/evaluate.h"

namespace tessera::jobs::testing {

// Daily dates from 2000-01-01 in a calendar without leap days (noleap) or with 30-day months (360_day).
inline io::TimeAxis daily_dates(int days, io::Calendar calendar) {
  static constexpr int kNoLeap[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  io::TimeAxis axis;
  axis.calendar = calendar;
  axis.units = "days since 2000-01-01";
  io::Date d{2000, 1, 1};
  for (int i = 0; i < days; ++i) {
    axis.dates.push_back(d);
    const int length = calendar == io::Calendar::k360Day ? 30 : kNoLeap[d.month - 1];
    if (++d.day > length) {
      d.day = 1;
      if (++d.month > 12) {
        d.month = 1;
        ++d.year;
      }
    }
  }
  return axis;
}

// A job whose inputs are the given names (bound in memory), with `arrays` lines and one output per entry of
// `outputs` (NAME = expression).
inline std::string job_text(const std::vector<std::string>& inputs, const std::string& arrays,
                            const std::vector<std::pair<std::string, std::string>>& outputs) {
  std::string text;
  for (const std::string& in : inputs) text += "[inputs." + in + "]\nfile = \"memory\"\n";
  text += "[arrays]\n" + arrays + "\n";
  for (const auto& [name, expr] : outputs) {
    text += "[outputs." + name + "]\nfile = \"out.nc\"\nexpression = '" + expr + "'\n";
  }
  return text;
}

// Keeps the JobSpec alive as long as the plan that points into it.
struct PlannedJob {
  JobSpec spec;
  JobPlan plan;
  const EvaluatedArray& output(const std::string& name) const {
    for (const PlannedOutput& o : plan.outputs) {
      if (o.spec->name == name) return o.value;
    }
    throw Error(ErrorCode::kNotFound, "no output " + name);
  }
  const std::vector<std::string>& dims(const std::string& name) const {
    for (const PlannedOutput& o : plan.outputs) {
      if (o.spec->name == name) return o.dims;
    }
    throw Error(ErrorCode::kNotFound, "no output " + name);
  }
};

inline std::unique_ptr<PlannedJob> plan_text(const std::string& text, InputResolver& resolver) {
  auto job = std::make_unique<PlannedJob>();
  job->spec = parse_job(text, "test.toml");
  job->plan = plan_job(job->spec, resolver);
  return job;
}

}  // namespace tessera::jobs::testing
