// libFuzzer target for the job-file front end: every input is parsed as a job file and, separately, as one
// expression evaluated over small in-memory arrays. Errors must be tessera::Error with a message; anything
// else (a crash, a hang, another exception, a sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "tessera/arrays/array.h"
#include "tessera/jobs/evaluate.h"
#include "tessera/jobs/job_file.h"

namespace {

using namespace tessera;
using namespace tessera::jobs;

MemoryResolver& resolver() {
  static MemoryResolver* r = [] {
    auto* m = new MemoryResolver;
    m->add("t", random_uniform({12, 3, 4}, {5, 2, 4}, 1, DType::kFloat32), {"time", "lat", "lon"});
    m->add("x", random_uniform({4, 5}, {2, 5}, 2), {"row", "col"});
    m->add("lat", linspace(-60, 60, 3, 3), {"lat"});
    io::TimeAxis time;
    time.calendar = io::Calendar::k360Day;
    for (int d = 0; d < 12; ++d) time.dates.push_back(io::Date{2000 + d / 6, 1 + d % 12, 1 + d});
    m->add_time_axis("time", time);
    return m;
  }();
  return *r;
}

void expect_message(const Error& e) {
  if (std::string(e.what()).empty()) std::abort();
  if (e.code() == ErrorCode::kInternal) std::abort();  // user input must never look like a tessera bug
}

void fuzz_job(const std::string& text) {
  try {
    JobSpec job = parse_job(text, "fuzz.toml");
    plan_job(job, resolver());
  } catch (const Error& e) {
    expect_message(e);
  }
}

void fuzz_expression(const std::string& text) {
  try {
    JobSpec job;
    job.source = SourceFile::from_text("fuzz.toml", text);
    for (const char* name : {"t", "x", "lat"}) {
      InputSpec in;
      in.name = in.variable = name;
      job.inputs.push_back(in);
    }
    ArraySpec a;
    a.name = "a";
    a.source = ExprSource::standalone(text, "fuzz.toml");
    a.expr = parse_expression(a.source);
    job.arrays.push_back(std::move(a));
    OutputSpec out;
    out.name = "o";
    out.source = ExprSource::standalone("a", "fuzz.toml");
    out.expr = parse_expression(out.source);
    job.outputs.push_back(std::move(out));
    JobPlan plan = plan_job(job, resolver());
    (void)to_string(*job.arrays[0].expr);
  } catch (const Error& e) {
    expect_message(e);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz_job(text);
  fuzz_expression(text);
  return 0;
}
