// The evaluator against NumPy: expressions over in-memory inputs are computed by tessera and compared with
// the same computation in NumPy (Debian's python3-numpy) on the same data.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "arrays/numpy_oracle.h"
#include "job_test_util.h"
#include "tessera/arrays/array.h"

namespace tessera::jobs {
namespace {

using testing::daily_dates;
using testing::job_text;
using testing::plan_text;

Chunk filled(DType dtype, Shape shape, double (*f)(std::int64_t)) {
  Chunk c(DType::kFloat64, shape);
  auto d = c.data<double>();
  for (std::int64_t i = 0; i < c.size(); ++i) d[static_cast<std::size_t>(i)] = f(i);
  return c.astype(dtype);
}

class EvaluateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    x_ = filled(DType::kFloat64, {6, 8},
                [](std::int64_t i) { return std::fmod(std::sin(i * 1.7) * 43758.5453, 1.0) * 0.5 + 0.5; });
    X_ = filled(DType::kFloat64, {8, 8}, [](std::int64_t i) { return std::cos(i * 0.37) * 3; });
    y_ = filled(DType::kFloat64, {6, 8},
                [](std::int64_t i) { return i % 7 == 3 ? std::nan("") : std::sin(i * 0.3); });
    t_ = filled(DType::kFloat32, {720, 3, 4}, [](std::int64_t i) {
      const double day = static_cast<double>(i / 12);
      return 280 + 10 * std::sin(2 * 3.14159265 * day / 360.0) + std::sin(i * 12.9898) * 2 + (i % 12) * 0.1;
    });
    n_ = filled(DType::kFloat64, {730, 2}, [](std::int64_t i) {
      return i % 29 == 5 ? std::nan("") : std::cos(static_cast<double>(i / 2) * 0.0172) * 5 + (i % 2);
    });
    lat_ = Chunk::from<double>({3}, std::vector<double>{-45, 0, 60});
    resolver_.add("x", from_chunk(x_, {4, 3}), {"row", "col"});
    resolver_.add("X", from_chunk(X_, {3, 3}));
    resolver_.add("y", from_chunk(y_, {6, 5}));
    resolver_.add("t", from_chunk(t_, {100, 2, 4}), {"time", "lat", "lon"});
    resolver_.add("n", from_chunk(n_, {200, 1}), {"day", "station"});
    resolver_.add("lat", from_chunk(lat_, {3}), {"lat"});
    resolver_.add_time_axis("time", daily_dates(720, io::Calendar::k360Day));
    resolver_.add_time_axis("day", daily_dates(730, io::Calendar::kNoLeap));
    oracle_.input("x", x_);
    oracle_.input("X", X_);
    oracle_.input("y", y_);
    oracle_.input("t", t_);
    oracle_.input("n", n_);
    oracle_.input("lat", lat_);
    std::vector<std::int64_t> month, season, doy, nmonth;
    for (const io::Date& d : daily_dates(720, io::Calendar::k360Day).dates) month.push_back(d.month - 1);
    const auto noleap = daily_dates(730, io::Calendar::kNoLeap);
    static constexpr int kSeason[12] = {0, 0, 2, 2, 2, 1, 1, 1, 3, 3, 3, 0};
    for (std::size_t i = 0; i < noleap.dates.size(); ++i) {
      season.push_back(kSeason[noleap.dates[i].month - 1]);
      nmonth.push_back(noleap.dates[i].month - 1);
      doy.push_back(static_cast<std::int64_t>(i % 365));
    }
    oracle_.input("month", Chunk::from<std::int64_t>({720}, month));
    oracle_.input("season", Chunk::from<std::int64_t>({730}, season));
    oracle_.input("doy", Chunk::from<std::int64_t>({730}, doy));
    oracle_.input("nmonth", Chunk::from<std::int64_t>({730}, nmonth));
  }

  void TearDown() override { oracle_.verify(); }

  // tessera evaluates `expr` as an output; NumPy must get the same from `numpy_expr`.
  void expect(const std::string& expr, const std::string& numpy_expr, tessera::testing::Tolerance tol = {},
              bool check_dtype = true) {
    SCOPED_TRACE(expr);
    auto job = plan_text(job_text({"x", "X", "y", "t", "n", "lat"}, "", {{"out", expr}}), resolver_);
    const Chunk result = compute(rt_, job->output("out").data);
    oracle_.expect(
        expr, numpy_expr, result, tol,
        check_dtype ? std::nullopt : std::optional<std::string>(std::string(name_of(result.dtype()))));
  }

  Runtime rt_{RuntimeOptions{.executor = ExecutorKind::kThreads, .threads = 2}};
  MemoryResolver resolver_;
  tessera::testing::NumpyOracle oracle_;
  Chunk x_, X_, y_, t_, n_, lat_;
};

TEST_F(EvaluateTest, ArithmeticComparisonsAndLogic) {
  expect("(X + X.T) - X.mean(axis=0)", "(X + X.T) - X.mean(axis=0)", {1e-14, 0});
  expect("x * 2 + 1 - x / 3", "x * 2 + 1 - x / 3");
  expect("2 - x", "2 - x");
  expect("1 / x", "1 / x");
  expect("-x ** 2", "-x ** 2");
  expect("x ** x", "x ** x", {1e-15, 0});
  expect("3 < x * 5", "3 < x * 5");
  expect("(x > 0.3) & (x < 0.7) | ~(x > 0.9)", "((x > 0.3) & (x < 0.7)) | ~(x > 0.9)");
  expect("x > 0.5 and not x > 0.8", "(x > 0.5) & ~(x > 0.8)");
  expect("x * (2 ** 3) + pi", "x * 8 + np.pi");
  expect("t + 1.5", "t + np.float32(1.5)");
}

TEST_F(EvaluateTest, ElementwiseFunctions) {
  const tessera::testing::Tolerance ulps{1e-14, 0};
  expect("abs(x - 0.5)", "np.abs(x - 0.5)");
  expect("sqrt(x) + exp(x) - log(x + 1) * sin(x) / (cos(x) + 2)",
         "np.sqrt(x) + np.exp(x) - np.log(x + 1) * np.sin(x) / (np.cos(x) + 2)", ulps);
  expect("floor(x * 10)", "np.floor(x * 10)");
  expect("isnan(y)", "np.isnan(y)");
  expect("where(x > 0.5, x, 0)", "np.where(x > 0.5, x, 0.0)");
  expect("where(isnan(y), 0, y)", "np.where(np.isnan(y), 0.0, y)");
  expect("where(x > 0.5, 1, 0)", "np.where(x > 0.5, 1, 0)");
  expect("clip(x, min=0.2, max=0.8)", "np.clip(x, 0.2, 0.8)");
  expect("clip(x, max=0.6)", "np.minimum(x, 0.6)");
  expect("maximum(x, X[:6, :])", "np.maximum(x, X[:6, :])");
  expect("astype(x * 100, \"int32\")", "(x * 100).astype(np.int32)");
  expect("radians(lat)", "np.radians(lat)", ulps);
}

TEST_F(EvaluateTest, Reductions) {
  const tessera::testing::Tolerance close{1e-12, 1e-12};
  expect("mean(x, axis=0)", "x.mean(axis=0)", close);
  expect("std(x, axis=[0, 1])", "x.std(axis=(0, 1))", close);
  expect("var(x, axis=1, ddof=1)", "x.var(axis=1, ddof=1)", close);
  expect("sum(x)", "x.sum()", close);
  expect("max(x, axis=-1, keepdims=true)", "x.max(axis=-1, keepdims=True)");
  expect("nanmean(y, axis=1, keepdims=true)", "np.nanmean(y, axis=1, keepdims=True)", close);
  expect("nanstd(y, axis=0)", "np.nanstd(y, axis=0)", close);
  expect("nanmax(y)", "np.nanmax(y)");
  expect("count(y, axis=0)", "(~np.isnan(y)).sum(axis=0)", {}, false);
  expect("argmax(x, axis=1)", "x.argmax(axis=1)");
  expect("x.min(axis=0)", "x.min(axis=0)");
  expect("quantile(x, 0.25, axis=0)", "np.quantile(x, 0.25, axis=0)", close);
  expect("median(x, axis=1)", "np.median(x, axis=1)", close);
  expect("nanquantile(y, 0.9, axis=1)", "np.nanquantile(y, 0.9, axis=1)", close);
  expect("cumsum(x, axis=1)", "np.cumsum(x, axis=1)", close);
}

TEST_F(EvaluateTest, SlicingAndShapes) {
  expect("x[1:5, ::-2]", "x[1:5, ::-2]");
  expect("x[-1]", "x[-1]");
  expect("x[:, 3]", "x[:, 3]");
  expect("x[::2, 1:-1:3]", "x[::2, 1:-1:3]");
  expect("t[0:365, :, 2]", "t[0:365, :, 2]");
  expect("x[100:]", "x[100:]");
  expect("transpose(t, [2, 0, 1])", "t.transpose(2, 0, 1)");
  expect("x.T", "x.T");
  expect("rechunk(t, [100, -1, 2])", "t");
  expect("expand_dims(lat, 1) * x[:3, :]", "lat[:, None] * x[:3, :]");
  expect("squeeze(x[:1, :], 0)", "x[0]");
  expect("matmul(X, X.T)", "X @ X.T", {1e-12, 1e-12});
}

TEST_F(EvaluateTest, WindowsAndWeights) {
  expect("rolling_mean(t, 30, axis=0)",
         "np.concatenate([np.full((29, 3, 4), np.nan), "
         "np.lib.stride_tricks.sliding_window_view(t.astype('f8'), 30, axis=0).mean(axis=-1)])",
         {1e-5, 1e-3}, false);
  expect("weighted_mean(t, expand_dims(cos(radians(lat)), 1), axis=[1, 2])",
         "(t * np.cos(np.radians(lat))[:, None]).sum(axis=(1, 2)) / (np.cos(np.radians(lat))[:, None] * "
         "np.ones((3, 4))).sum()",
         {1e-5, 1e-3}, false);
}

TEST_F(EvaluateTest, CalendarGroupingFollowsTheDecodedDates) {
  const tessera::testing::Tolerance close{1e-5, 1e-4};
  // 360_day calendar: every month has 30 days.
  expect("groupby_mean(t, \"time.month\")", "np.stack([t[month == k].mean(axis=0) for k in range(12)])",
         close, false);
  expect("anomaly(t, \"time.month\")", "t - np.stack([t[month == k].mean(axis=0) for k in range(12)])[month]",
         close, false);
  expect("groupby_max(t[30:400], \"time.month\")",
         "np.stack([t[30:400][month[30:400] == k].max(axis=0) for k in range(12)])", {}, false);
  // noleap calendar: seasons (xarray's order DJF, JJA, MAM, SON) and day of year (365 groups).
  expect("groupby_nanmean(n, \"day.season\")",
         "np.stack([np.nanmean(n[season == k], axis=0) for k in range(4)])", {1e-12, 1e-12}, false);
  expect("groupby_sum(n, \"day.dayofyear\")", "np.stack([n[doy == k].sum(axis=0) for k in range(365)])",
         {1e-12, 1e-12}, false);
  expect("anomaly(n, \"day.month\", skipna=true)",
         "n - np.stack([np.nanmean(n[nmonth == k], axis=0) for k in range(12)])[nmonth]", {1e-12, 1e-12},
         false);
}

}  // namespace
}  // namespace tessera::jobs
