// Job files: sections, defaults, order, paths, sizes, ${NAME} variables and located errors for TOML mistakes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "tessera/jobs/job_file.h"

namespace tessera::jobs {
namespace {

using ::testing::HasSubstr;

std::string job_error(const std::string& text, ErrorCode code = ErrorCode::kInvalidArgument) {
  try {
    parse_job(text, "job.toml", "/data/jobs");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error for:\n" << text;
  return "";
}

const char* kGood = R"TOML(# a full job
[inputs.t]
file = "era5.nc"
variable = "t2m"
chunks = [73, -1, 180]

[inputs.lat]
file = "/abs/era5.nc"

[arrays]
zeta = "t - mean(t, axis=0)"
alpha = "zeta / std(t, axis=0)"
b = '''
  alpha * 2
'''

[outputs.anom]
file = "out/anom.nc"
expression = "alpha"
compression = 4
dims = ["time", "lat", "lon"]
attributes = { units = "1", long_name = "standardized anomaly", scale = 2.5, valid_range = [-10, 10] }

[outputs.b]
file = "out/anom.nc"

[options]
target_chunk_mb = 32
threads = 4
memory_limit = "8GB"
report = "report.html"
)TOML";

TEST(JobFile, ParsesEverySection) {
  const JobSpec job = parse_job(kGood, "job.toml", "/data/jobs");
  ASSERT_EQ(job.inputs.size(), 2u);
  EXPECT_EQ(job.inputs[0].name, "t");
  EXPECT_EQ(job.inputs[0].variable, "t2m");
  EXPECT_EQ(job.inputs[0].path, "/data/jobs/era5.nc");
  EXPECT_EQ(*job.inputs[0].chunks, (Shape{73, -1, 180}));
  EXPECT_EQ(job.inputs[1].variable, "lat");  // default: the input's name
  EXPECT_EQ(job.inputs[1].path, "/abs/era5.nc");

  // Arrays keep the order of the file (not alphabetical), so later ones may use earlier ones.
  ASSERT_EQ(job.arrays.size(), 3u);
  EXPECT_EQ(job.arrays[0].name, "zeta");
  EXPECT_EQ(job.arrays[1].name, "alpha");
  EXPECT_EQ(job.arrays[2].name, "b");
  EXPECT_EQ(to_string(*job.arrays[0].expr), "(t - mean(t, axis=0))");
  EXPECT_EQ(job.arrays[0].source.line, 11);
  EXPECT_EQ(job.arrays[0].source.column, 9);
  EXPECT_EQ(job.arrays[2].source.line, 14);  // multi-line string: starts on the next line

  ASSERT_EQ(job.outputs.size(), 2u);
  const OutputSpec& anom = job.outputs[0];
  EXPECT_EQ(anom.name, "anom");
  EXPECT_EQ(anom.variable, "anom");
  EXPECT_EQ(anom.path, "/data/jobs/out/anom.nc");
  EXPECT_EQ(anom.compression, 4);
  EXPECT_EQ(*anom.dims, (std::vector<std::string>{"time", "lat", "lon"}));
  ASSERT_EQ(anom.attributes.size(), 4u);
  EXPECT_EQ(anom.attributes[0].name, "units");
  EXPECT_EQ(std::get<std::string>(anom.attributes[0].value), "1");
  EXPECT_EQ(std::get<std::vector<double>>(anom.attributes[2].value), (std::vector<double>{2.5}));
  EXPECT_TRUE(anom.attributes[3].integer);
  EXPECT_EQ(to_string(*job.outputs[1].expr), "b");  // default expression: the output's name

  EXPECT_EQ(job.options.target_chunk_bytes, 32'000'000u);
  EXPECT_EQ(job.options.threads, 4);
  EXPECT_EQ(*job.options.memory_limit, 8'000'000'000u);
  EXPECT_EQ(job.options.report, "/data/jobs/report.html");
}

TEST(JobFileErrors, TomlSyntax) {
  const std::string m = job_error("[inputs.t]\nfile = \"a.nc\nvariable = 3\n");
  EXPECT_THAT(m, HasSubstr("job.toml:2:"));
  EXPECT_THAT(m, HasSubstr("TOML syntax error"));
}

TEST(JobFileErrors, InvalidUtf8IsRefusedBeforeTheTomlParser) {
  // toml11 3.7 overran its buffer on input like this (found by the fuzzer).
  const std::string m = job_error("[outputs.o]\nfile = 'o\xff\xfe.nc'\n");
  EXPECT_THAT(m, HasSubstr("job.toml:2:10: error: the job file is not valid UTF-8"));
  EXPECT_THAT(job_error("[outputs.o]\nfile = \"\xed\xa0\x80\"\n"),
              HasSubstr("not valid UTF-8"));                                                   // a surrogate
  EXPECT_THAT(job_error("[outputs.o]\nfile = \"\xc0\xaf\"\n"), HasSubstr("not valid UTF-8"));  // overlong '/'
  EXPECT_NO_THROW(parse_job("[outputs.o]\nfile = \"T\xc3\xa4gliche Mittel \xe2\x84\x83.nc\"\n", "job.toml"));
}

TEST(JobFileErrors, UnknownSectionAndKeysSuggestTheNearest) {
  const std::string section = job_error("[input.t]\nfile = \"a.nc\"\n[outputs.o]\nfile = \"o.nc\"\n");
  EXPECT_THAT(section, HasSubstr("unknown key 'input' in the job file"));
  EXPECT_THAT(section, HasSubstr("did you mean 'inputs'?"));

  const std::string key =
      job_error("[inputs.t]\nfile = \"a.nc\"\nvarable = \"t2m\"\n[outputs.o]\nfile = \"o.nc\"\n");
  EXPECT_THAT(key, HasSubstr("job.toml:3:1: error: unknown key 'varable' in [inputs.t]"));
  EXPECT_THAT(key, HasSubstr(" 3 | varable = \"t2m\"\n   | ^~~~~~~"));
  EXPECT_THAT(key, HasSubstr("did you mean 'variable'?"));

  const std::string option = job_error("[outputs.o]\nfile = \"o.nc\"\n[options]\nthread = 4\n");
  EXPECT_THAT(option, HasSubstr("unknown key 'thread' in [options]"));
  EXPECT_THAT(option, HasSubstr("did you mean 'threads'?"));
}

TEST(JobFileErrors, WrongTypesAndValues) {
  EXPECT_THAT(job_error("[inputs.t]\nfile = 3\n[outputs.o]\nfile = \"o.nc\"\n"),
              HasSubstr("job.toml:2:8: error: 'file' in [inputs.t] must be a string, not an integer"));
  EXPECT_THAT(job_error("[inputs.t]\nvariable = \"x\"\n[outputs.o]\nfile = \"o.nc\"\n"),
              HasSubstr("[inputs.t] has no 'file'"));
  EXPECT_THAT(job_error("[inputs.t]\nfile = \"a.nc\"\nchunks = [10, 0]\n[outputs.o]\nfile = \"o.nc\"\n"),
              HasSubstr("entries must be positive, or -1 for the whole axis; got 0"));
  EXPECT_THAT(job_error("[outputs.o]\nfile = \"o.nc\"\ncompression = 12\n"),
              HasSubstr("'compression' must be a gzip level from 0 (none) to 9, not 12"));
  EXPECT_THAT(job_error("[outputs.o]\nfile = \"o.nc\"\n[options]\nmemory_limit = \"8 parsecs\"\n"),
              HasSubstr("'memory_limit' \"8 parsecs\" has an unknown unit"));
  EXPECT_THAT(job_error("[outputs.o]\nfile = \"o.nc\"\n[options]\nthreads = -2\n"),
              HasSubstr("'threads' must be 0"));
  EXPECT_THAT(job_error("[inputs.t]\nfile = \"a.nc\"\n"), HasSubstr("the job has no outputs"));
}

TEST(JobFile, DashboardOption) {
  EXPECT_EQ(parse_job("[outputs.o]\nfile = \"o.nc\"\n[options]\ndashboard = 8787\n", "job.toml", "/d")
                .options.dashboard,
            "8787");
  EXPECT_EQ(
      parse_job("[outputs.o]\nfile = \"o.nc\"\n[options]\ndashboard = \"0.0.0.0:8787\"\n", "job.toml", "/d")
          .options.dashboard,
      "0.0.0.0:8787");
  EXPECT_EQ(parse_job("[outputs.o]\nfile = \"o.nc\"\n", "job.toml", "/d").options.dashboard, "");
  EXPECT_THAT(job_error("[outputs.o]\nfile = \"o.nc\"\n[options]\ndashboard = \"host:99999\"\n"),
              HasSubstr("job.toml:4:13: error: dashboard address \"host:99999\": the port \"99999\" is not a "
                        "number from 0 to 65535"));
}

TEST(JobFileErrors, Names) {
  EXPECT_THAT(job_error("[inputs.t]\nfile = \"a.nc\"\n[arrays]\nt = \"1\"\n[outputs.o]\nfile = \"o.nc\"\n"),
              HasSubstr("'t' is defined twice (first on line 1)"));
  EXPECT_THAT(job_error("[arrays]\n\"2x\" = \"1\"\n[outputs.o]\nfile = \"o.nc\"\n"),
              HasSubstr("array name '2x' is not a valid name"));
  EXPECT_THAT(job_error("[arrays]\npi = \"1\"\n[outputs.o]\nfile = \"o.nc\"\n"), HasSubstr("reserved"));
  EXPECT_THAT(
      job_error(
          "[outputs.o]\nfile = \"o.nc\"\nvariable = \"v\"\n[outputs.p]\nfile = \"o.nc\"\nvariable = \"v\"\n"),
      HasSubstr("both write variable 'v'"));
}

TEST(JobFileErrors, ExpressionSyntaxErrorsPointIntoTheFile) {
  const std::string m = job_error(
      "[inputs.t]\nfile = \"a.nc\"\n[arrays]\nanom = \"(t - mean(t, axis=0) / 2\"\n[outputs.anom]\nfile = "
      "\"o.nc\"\n");
  EXPECT_THAT(m, HasSubstr("job.toml:4:33: error: expected ')' to close the parenthesis"));
  EXPECT_THAT(m,
              HasSubstr(" 4 | anom = \"(t - mean(t, axis=0) / 2\"\n   |                                 ^"));
}

TEST(JobFileErrors, ColumnsStayRightAfterEscapesInTheString) {
  // The expression holds \"...\" escapes: columns after them must still point at the file's text.
  const std::string m =
      job_error("[arrays]\na = \"groupby_mean(t, \\\"time.month\\\") + $\"\n[outputs.a]\nfile = \"o.nc\"\n");
  EXPECT_THAT(m, HasSubstr("job.toml:2:40: error: unexpected '$' in expression"));
  EXPECT_THAT(m, HasSubstr("|" + std::string(40, ' ') + "^"));
}

const char* kMember = R"TOML([inputs.t]
file = "members/m${SLURM_ARRAY_TASK_ID}.nc"
[arrays]
noise = 'random_normal([4], seed=${SLURM_ARRAY_TASK_ID})'
[outputs.anom]
file = "anom_${SLURM_ARRAY_TASK_ID}.nc"
expression = "t + noise"
attributes = { long_name = "member ${SLURM_ARRAY_TASK_ID}", note = "$${not a variable}, $5" }
)TOML";

TEST(JobVariables, EveryStringValueMayUseThem) {
  const JobSpec job = parse_job(kMember, "job.toml", "/data", {{"SLURM_ARRAY_TASK_ID", "17"}});
  EXPECT_EQ(job.inputs[0].file, "members/m17.nc");
  EXPECT_EQ(job.inputs[0].path, "/data/members/m17.nc");
  EXPECT_EQ(job.arrays[0].source.text, "random_normal([4], seed=17)");
  EXPECT_EQ(job.outputs[0].path, "/data/anom_17.nc");
  ASSERT_EQ(job.outputs[0].attributes.size(), 2u);
  EXPECT_EQ(std::get<std::string>(job.outputs[0].attributes[0].value), "member 17");
  EXPECT_EQ(std::get<std::string>(job.outputs[0].attributes[1].value), "${not a variable}, $5");
  // Another task of the array: other files.
  EXPECT_EQ(parse_job(kMember, "job.toml", "/data", {{"SLURM_ARRAY_TASK_ID", "3"}}).outputs[0].file,
            "anom_3.nc");
}

TEST(JobVariables, ErrorsPointAtTheVariable) {
  // Not set: outside a job array.
  std::string m = job_error(kMember);
  EXPECT_THAT(
      m, HasSubstr("job.toml:2:18: error: ${SLURM_ARRAY_TASK_ID} is not set: this job is meant to run as "
                   "a task of a Slurm job array in 'file' in [inputs.t]"));
  EXPECT_THAT(m, HasSubstr("|" + std::string(18, ' ') + "^" + std::string(21, '~')));
  EXPECT_THAT(m, HasSubstr("help: submit it with `tessera slurm JOB --array N`, or try one task here: "
                           "SLURM_ARRAY_TASK_ID=0 tessera run JOB"));
  m = job_error("[outputs.o]\nfile = 'o_${HOME}.nc'\n");
  EXPECT_THAT(
      m, HasSubstr("job.toml:2:11: error: unknown variable ${HOME} (job files know ${SLURM_ARRAY_TASK_ID})"));
  EXPECT_THAT(m, HasSubstr("help: write $${ for a literal ${"));
  EXPECT_THAT(job_error("[outputs.o]\nfile = \"o_${SLURM_ARRAY_TASK_ID.nc\"\n"),
              HasSubstr("job.toml:2:11: error: \"${\" starts no variable here: expected ${NAME}"));
}

TEST(JobVariables, ExpressionErrorsStillPointIntoTheFile) {
  // The value (5 characters) is longer than ${...} is short: the column of the bad '$' is the file's.
  const char* text =
      "[arrays]\na = \"random_normal([4], seed=${SLURM_ARRAY_TASK_ID}) + $\"\n[outputs.a]\nfile = \"o.nc\"\n";
  try {
    parse_job(text, "job.toml", ".", {{"SLURM_ARRAY_TASK_ID", "12345"}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("job.toml:2:56: error: unexpected '$' in expression"));
  }
}

TEST(JobVariables, FromTheEnvironment) {
  ::unsetenv("SLURM_ARRAY_TASK_ID");
  EXPECT_TRUE(job_variables_from_environment().empty());
  ::setenv("SLURM_ARRAY_TASK_ID", "4", 1);
  EXPECT_EQ(job_variables_from_environment(), (JobVariables{{"SLURM_ARRAY_TASK_ID", "4"}}));
  ::unsetenv("SLURM_ARRAY_TASK_ID");
}

TEST(JobFile, LoadReportsAMissingFile) {
  try {
    load_job("/nonexistent/job.toml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_THAT(e.what(), HasSubstr("job file '/nonexistent/job.toml' does not exist"));
  }
}

}  // namespace
}  // namespace tessera::jobs
