// Every class of job error: the message says what is wrong, points at file:line:column with the offending
// text underlined, suggests the nearest valid name where there is one, and comes before any work.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "job_test_util.h"
#include "tessera/arrays/array.h"

namespace tessera::jobs {
namespace {

using testing::daily_dates;
using ::testing::HasSubstr;
using testing::job_text;
using testing::plan_text;

class JobErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    resolver_.add("temperature", random_uniform({10, 3, 4}, {5, 3, 4}, 1, DType::kFloat32),
                  {"time", "lat", "lon"});
    resolver_.add("mask", random_uniform({3, 5}, {3, 5}, 2), {"lat", "lon"});
    resolver_.add_time_axis("time", daily_dates(10, io::Calendar::kNoLeap));
  }

  // The error of planning a job with one array `a = EXPR` (line 5, expression from column 6).
  std::string error_of(const std::string& expr, ErrorCode code = ErrorCode::kInvalidArgument) {
    return error_of_job(job_text({"temperature", "mask"}, "a = \"" + expr + "\"", {{"out", "a"}}), code);
  }
  std::string error_of_job(const std::string& text, ErrorCode code) {
    try {
      plan_text(text, resolver_);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      return e.what();
    }
    ADD_FAILURE() << "no error for:\n" << text;
    return "";
  }

  MemoryResolver resolver_;
};

TEST_F(JobErrors, UnknownFunctionSuggestsTheNearest) {
  const std::string m = error_of("meen(temperature, axis=0)", ErrorCode::kNotFound);
  EXPECT_THAT(m, HasSubstr("test.toml:6:6: error: unknown function 'meen'"));
  EXPECT_THAT(m, HasSubstr(" 6 | a = \"meen(temperature, axis=0)\"\n   |      ^~~~"));
  EXPECT_THAT(m, HasSubstr("= help: did you mean 'mean'?"));
  EXPECT_THAT(error_of("groupby_maen(temperature, \\\"time.month\\\")", ErrorCode::kNotFound),
              HasSubstr("did you mean 'groupby_mean'?"));
}

TEST_F(JobErrors, UnknownInputOrArraySuggestsTheNearest) {
  const std::string m = error_of("temprature - 1", ErrorCode::kNotFound);
  EXPECT_THAT(m, HasSubstr("6:6: error: unknown name 'temprature': not an input, an array or a constant"));
  EXPECT_THAT(m, HasSubstr("^~~~~~~~~~"));
  EXPECT_THAT(m, HasSubstr("did you mean 'temperature'?"));

  const std::string later = error_of_job(
      job_text({"temperature"}, "a = \"b + 1\"\nb = \"temperature\"", {{"out", "a"}}), ErrorCode::kNotFound);
  EXPECT_THAT(later, HasSubstr("'b' is defined later in [arrays] (line 5)"));

  EXPECT_THAT(error_of("mean + 1", ErrorCode::kNotFound), HasSubstr("'mean' is a function, not an array"));
  EXPECT_THAT(error_of("mask(1)", ErrorCode::kNotFound),
              HasSubstr("'mask' is an array; arrays cannot be called"));
  EXPECT_THAT(error_of("temperature.TT", ErrorCode::kNotFound), HasSubstr("unknown attribute 'TT'"));
}

TEST_F(JobErrors, KeywordsAndArguments) {
  const std::string kw = error_of("mean(temperature, axes=0)");
  EXPECT_THAT(kw, HasSubstr("6:24: error: unknown keyword argument 'axes' for mean"));
  EXPECT_THAT(kw, HasSubstr("did you mean 'axis'?"));
  EXPECT_THAT(kw, HasSubstr("signature: mean(a, axis=None, keepdims=false)"));

  EXPECT_THAT(error_of("rolling_mean(temperature)"),
              HasSubstr("rolling_mean is missing its argument 'window'"));
  EXPECT_THAT(error_of("sqrt(temperature, 1)"), HasSubstr("sqrt takes at most 1 argument, got 2"));
  EXPECT_THAT(
      error_of("mean(temperature, temperature, axis=1)"),
      HasSubstr(
          "argument 'axis' of mean must be an axis or a list of axes, not an array of shape (10, 3, 4)"));
  EXPECT_THAT(error_of("mean(temperature, 0, axis=1)"), HasSubstr("argument 'axis' of mean is given twice"));
  EXPECT_THAT(error_of("mean(temperature, axis=\\\"time\\\")"),
              HasSubstr("argument 'axis' of mean must be an axis or a list of axes, not a string"));
  EXPECT_THAT(error_of("mean(temperature, keepdims=1)"), HasSubstr("must be true or false, not an integer"));
  EXPECT_THAT(error_of("quantile(temperature, 50, axis=0)"), HasSubstr("q must be between 0 and 1"));
}

TEST_F(JobErrors, ShapeMismatchNamesBothShapes) {
  const std::string m = error_of("temperature + mask");
  EXPECT_THAT(m, HasSubstr("6:6: error: operands of '+': shapes (10, 3, 4) and (3, 5) do not broadcast"));
  EXPECT_THAT(m, HasSubstr("^~~~~~~~~~~~~~~~~~"));
  EXPECT_THAT(m, HasSubstr("sizes 4 and 5 meet on axis -1"));
  EXPECT_THAT(error_of("where(temperature > 0, temperature, mask)"),
              HasSubstr("arguments of where: shapes (10, 3, 4) and (10, 3, 4) and (3, 5) do not broadcast"));
  EXPECT_THAT(error_of("weighted_mean(temperature, mask)"),
              HasSubstr("weighted_mean's array and weights: shapes (10, 3, 4) and (3, 5) do not broadcast"));
}

TEST_F(JobErrors, DTypeMismatch) {
  EXPECT_THAT(
      error_of("where(temperature, 1, 0)"),
      HasSubstr(
          "the condition of where must be a bool array, not an array of shape (10, 3, 4) and dtype float32"));
  EXPECT_THAT(
      error_of("(temperature > 0) & mask"),
      HasSubstr(
          "'&' needs bool arrays (comparisons), but this is an array of shape (3, 5) and dtype float64"));
  const std::string dtype = error_of("astype(temperature, \\\"float23\\\")");
  EXPECT_THAT(dtype, HasSubstr("unknown dtype 'float23'"));
  EXPECT_THAT(dtype, HasSubstr("did you mean 'float32'?"));
}

TEST_F(JobErrors, AxesAndIndices) {
  EXPECT_THAT(error_of("mean(temperature, axis=3)"),
              HasSubstr("axis 3 is out of range for an array of shape (10, 3, 4) with 3 dimensions"));
  EXPECT_THAT(error_of("sum(temperature, axis=[0, -3])"), HasSubstr("axis 0 is repeated"));
  EXPECT_THAT(error_of("temperature[0, 5]"),
              HasSubstr("index 5 is out of range for axis 1 of length 3 (shape (10, 3, 4))"));
  EXPECT_THAT(error_of("temperature[0, 0, 0, 0]"),
              HasSubstr("too many indices: 4 for an array of shape (10, 3, 4)"));
  EXPECT_THAT(error_of("temperature[0.5]"), HasSubstr("an index must be an integer, not a number"));
  EXPECT_THAT(error_of("temperature[::0]"), HasSubstr("slice step cannot be zero"));
  EXPECT_THAT(error_of("rolling_mean(temperature, 30)"),
              HasSubstr("window 30 must be between 1 and the length of axis 0 (10)"));
  EXPECT_THAT(error_of("rechunk(temperature, [5, 5])"),
              HasSubstr("chunks (5, 5) have 2 entries but the array has shape (10, 3, 4)"));
}

TEST_F(JobErrors, CalendarGrouping) {
  const std::string dim = error_of("groupby_mean(temperature, \\\"tim.month\\\")", ErrorCode::kNotFound);
  EXPECT_THAT(dim, HasSubstr("the array has no dimension 'tim' (its dimensions are (time, lat, lon))"));
  EXPECT_THAT(dim, HasSubstr("did you mean 'time'?"));
  const std::string component = error_of("anomaly(temperature, \\\"time.moth\\\")");
  EXPECT_THAT(component, HasSubstr("unknown date component 'moth'"));
  EXPECT_THAT(component, HasSubstr("did you mean 'month'?"));
  EXPECT_THAT(error_of("groupby_mean(temperature, \\\"month\\\")"),
              HasSubstr("is not of the form \"DIM.COMPONENT\""));
  EXPECT_THAT(error_of("groupby_mean(mean(temperature, axis=0, keepdims=true), \\\"time.month\\\")"),
              HasSubstr("no longer carries dates"));
  EXPECT_THAT(error_of("groupby_mean(mask, \\\"lat.month\\\")", ErrorCode::kNotFound),
              HasSubstr("cannot read the dates of 'lat'"));
}

TEST_F(JobErrors, ResultsAndOutputs) {
  EXPECT_THAT(error_of("1 + 2"),
              HasSubstr("array 'a' must be an array, but its expression gives an integer"));
  const std::string dims = error_of_job(
      "[inputs.mask]\nfile = \"m.nc\"\n[outputs.m]\nfile = \"o.nc\"\nexpression = \"mask\"\ndims = [\"x\"]\n",
      ErrorCode::kInvalidArgument);
  EXPECT_THAT(
      dims, HasSubstr("test.toml:6:8: error: output 'm' has 2 dimensions (shape (3, 5)) but 'dims' names 1"));
}

TEST_F(JobErrors, MissingInputIsLocatedAtTheInput) {
  const std::string m = error_of_job(
      "[inputs.nothing]\nfile = \"n.nc\"\n[outputs.o]\nfile = \"o.nc\"\nexpression = \"nothing\"\n",
      ErrorCode::kNotFound);
  EXPECT_THAT(m, HasSubstr("test.toml:1:"));
  EXPECT_THAT(m, HasSubstr("no in-memory array is bound to input 'nothing'"));
}

TEST(Suggestions, EditDistance) {
  EXPECT_EQ(edit_distance("mean", "mean"), 0u);
  EXPECT_EQ(edit_distance("meen", "mean"), 1u);
  EXPECT_EQ(edit_distance("maen", "mean"), 1u);  // a transposition counts once
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  const std::vector<std::string> names = {"mean", "median", "max", "nanmean"};
  EXPECT_EQ(nearest_name("meen", names), "mean");
  EXPECT_EQ(nearest_name("Mean", names), "mean");
  EXPECT_EQ(nearest_name("xyz", names), "");
  EXPECT_EQ(nearest_name("nanmaen", names), "nanmean");
}

}  // namespace
}  // namespace tessera::jobs
