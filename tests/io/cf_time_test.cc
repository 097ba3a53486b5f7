// CF time decoding, checked against cftime.num2date (Debian's python3-cftime) through cf_time_oracle.py.
#include "tessera/io/cf_time.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "temp_dir.h"
#include "tessera/runtime/error.h"

namespace tessera::io {
namespace {

using ::testing::HasSubstr;

using TempDir = tessera::testing::TempDir;

struct Case {
  std::string calendar;
  std::string units;
  std::vector<double> values;
};

// Runs the oracle on all cases; one result line per case ("OK|d;d;..." or "ERR|message").
std::vector<std::string> oracle(const std::vector<Case>& cases) {
  TempDir dir;
  const std::string in = dir.file("cases.txt");
  const std::string out = dir.file("expected.txt");
  {
    std::ofstream f(in);
    char buf[64];
    for (const Case& c : cases) {
      f << c.calendar << '|' << c.units << '|';
      for (double v : c.values) {
        std::snprintf(buf, sizeof buf, "%.17g ", v);
        f << buf;
      }
      f << '\n';
    }
  }
  const std::string command =
      std::string(TESSERA_PYTHON) + " " + TESSERA_IO_TEST_DIR + "/cf_time_oracle.py " + in + " " + out;
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  std::vector<std::string> lines;
  std::ifstream f(out);
  for (std::string line; std::getline(f, line);) lines.push_back(line);
  EXPECT_EQ(lines.size(), cases.size());
  return lines;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, sep);) parts.push_back(part);
  return parts;
}

// Values in `unit`s spanning about +-2700 years, exact binary fractions (so that the decoded microseconds
// cannot differ by rounding), plus some that are not exact.
std::vector<double> sample_values(double per_day, unsigned seed) {
  std::vector<double> v = {0,  1,  -1,  0.5, 0.25, 0.75,  -0.5, 1.5, 59,
                           60, 61, 365, 366, 1461, -1461, 0.1,  2.2, 1e-3};
  for (double days : {36500.25, -365.75, 146097.0, 100000.125, -700000.0, 730000.5, 58.5, 59.5}) {
    v.push_back(days * per_day);
  }
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(-1e6 * per_day, 1e6 * per_day);
  for (int i = 0; i < 40; ++i) v.push_back(std::round(dist(rng) * 64) / 64);
  return v;
}

TEST(CfTime, MatchesCftimeAcrossCalendarsAndUnits) {
  const std::vector<std::string> calendars = {"standard", "gregorian", "proleptic_gregorian",
                                              "julian",   "noleap",    "365_day",
                                              "all_leap", "366_day",   "360_day"};
  struct Units {
    std::string text;
    double per_day;
  };
  const std::vector<Units> units = {
      {"days since 1850-1-1", 1},
      {"hours since 1900-01-01T00:00:00Z", 24},
      {"days since 2000-01-01 00:00:00.0", 1},
      {"seconds since 1970-01-01 00:00:00 UTC", 86400},
      {"minutes since 1582-10-15 00:00", 1440},
      {"days since 1582-10-04", 1},
      {"days since 0001-01-01", 1},
      {"hours since 1900-01-01 00:00:00 +05:00", 24},
      {"hours since 1900-01-01T05:00:00-0530", 24},
      {"days since -0100-03-01", 1},
      {"days since 1600-02-29 12:30:15.5", 1},
      {"days since 1900-02-29", 1},
      {"Days since 1979-12-31 23:59:59", 1},
      {"seconds since 2000-02-30", 86400},
      {"milliseconds since 2000-01-01", 86400e3},
      {"hrs since 1-1-1 0:0:0", 24},
  };
  std::vector<Case> cases;
  unsigned seed = 1;
  for (const auto& c : calendars) {
    for (const auto& u : units) cases.push_back({c, u.text, sample_values(u.per_day, seed++)});
  }
  const std::vector<std::string> expected = oracle(cases);
  ASSERT_EQ(expected.size(), cases.size());
  int decoded = 0, refused = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE(c.calendar + " | " + c.units);
    if (expected[i].rfind("ERR|", 0) == 0) {
      try {
        decode_time(c.values, c.units, c.calendar);
        ADD_FAILURE() << "cftime refuses (" << expected[i] << ") but tessera decodes";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
        EXPECT_THAT(e.what(), HasSubstr("does not exist"));
      }
      ++refused;
      continue;
    }
    const std::vector<std::string> dates = split(expected[i].substr(3), ';');
    ASSERT_EQ(dates.size(), c.values.size());
    const TimeAxis axis = decode_time(c.values, c.units, c.calendar);
    EXPECT_EQ(axis.units, c.units);
    EXPECT_EQ(axis.calendar, parse_calendar(c.calendar));
    ASSERT_EQ(axis.dates.size(), c.values.size());
    for (std::size_t j = 0; j < dates.size(); ++j) {
      EXPECT_EQ(format_date(axis.dates[j]), dates[j]) << "value " << c.values[j];
    }
    ++decoded;
  }
  // Some reference dates do not exist in some calendars (1900-02-29, 2000-02-30, year -100 in ...); the
  // counts guard against an oracle that refuses everything.
  EXPECT_GT(decoded, 100);
  EXPECT_GT(refused, 5);
}

TEST(CfTime, ExactFractions) {
  const std::vector<double> values = {36500.25, 0.5, 0.25, 1.0 / 3.0};
  const TimeAxis axis = decode_time(values, "days since 1850-01-01", "noleap");
  EXPECT_EQ(format_date(axis.dates[0]), "1950-01-01 06:00:00");
  EXPECT_EQ(axis.dates[0].second, 0.0);
  EXPECT_EQ(axis.dates[0].hour, 6);
  EXPECT_EQ(format_date(axis.dates[1]), "1850-01-01 12:00:00");
  EXPECT_EQ(format_date(axis.dates[2]), "1850-01-01 06:00:00");
  EXPECT_EQ(format_date(axis.dates[3]), "1850-01-01 08:00:00");
  const TimeAxis std_axis = decode_time(values, "days since 1850-1-1", "standard");
  EXPECT_EQ(format_date(std_axis.dates[0]), "1949-12-08 06:00:00");
}

TEST(CfTime, MixedCalendarSkipsTenDays) {
  const std::vector<double> values = {0, 1, -1};
  const TimeAxis axis = decode_time(values, "days since 1582-10-04", "standard");
  EXPECT_EQ(format_date(axis.dates[1]), "1582-10-15 00:00:00");
  EXPECT_EQ(format_date(axis.dates[2]), "1582-10-03 00:00:00");
  EXPECT_EQ(days_in_month(Calendar::kStandard, 1582, 10), 21);
  EXPECT_EQ(days_in_month(Calendar::kStandard, 1500, 2), 29);
  EXPECT_EQ(days_in_month(Calendar::kProlepticGregorian, 1500, 2), 28);
  EXPECT_EQ(days_in_month(Calendar::kJulian, 1900, 2), 29);
  EXPECT_EQ(days_in_month(Calendar::kStandard, 1900, 2), 28);
  EXPECT_EQ(days_in_month(Calendar::kNoLeap, 2000, 2), 28);
  EXPECT_EQ(days_in_month(Calendar::kAllLeap, 2001, 2), 29);
  EXPECT_EQ(days_in_month(Calendar::k360Day, 2001, 2), 30);
  EXPECT_EQ(days_in_month(Calendar::kJulian, -1, 2), 29);  // no year 0: 1 BC is a leap year
}

TEST(CfTime, CalendarNames) {
  EXPECT_EQ(parse_calendar("GREGORIAN"), Calendar::kStandard);
  EXPECT_EQ(parse_calendar("365_day"), Calendar::kNoLeap);
  EXPECT_EQ(parse_calendar("366_day"), Calendar::kAllLeap);
  for (Calendar c : {Calendar::kStandard, Calendar::kProlepticGregorian, Calendar::kJulian, Calendar::kNoLeap,
                     Calendar::kAllLeap, Calendar::k360Day}) {
    EXPECT_EQ(parse_calendar(name_of(c)), c);
  }
}

TEST(CfTime, FormatDate) {
  EXPECT_EQ(format_date(Date{2000, 1, 31, 12, 0, 0}), "2000-01-31 12:00:00");
  EXPECT_EQ(format_date(Date{-1, 12, 31, 0, 0, 1.5}), "-0001-12-31 00:00:01.500000");
  EXPECT_EQ(format_date(Date{1, 2, 3, 4, 5, 7.25}), "0001-02-03 04:05:07.250000");
}

void expect_refused(std::string_view units, std::string_view calendar, const std::string& fragment,
                    std::vector<double> values = {0}) {
  try {
    decode_time(values, units, calendar);
    ADD_FAILURE() << "decoded \"" << units << "\" in " << calendar;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    EXPECT_THAT(e.what(), HasSubstr(fragment));
  }
}

TEST(CfTimeErrors, MonthsAndYearsSinceAreRefused) {
  expect_refused("months since 2000-01-01", "360_day", "\"months since\" is refused");
  expect_refused("years since 2000-01-01", "noleap", "ambiguous in CF");
  expect_refused("common_years since 2000-01-01", "noleap", "ambiguous in CF");
}

TEST(CfTimeErrors, UnknownCalendar) {
  try {
    parse_calendar("lunar");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("unknown calendar \"lunar\""));
    EXPECT_THAT(e.what(), HasSubstr("proleptic_gregorian"));
  }
  expect_refused("days since 2000-01-01", "none", "unknown calendar \"none\"");
}

TEST(CfTimeErrors, NonexistentReferenceDate) {
  expect_refused("days since 2001-02-30", "standard", "2001-2-30 does not exist in the standard calendar");
  expect_refused("days since 2000-02-29", "noleap", "does not exist in the noleap calendar");
  expect_refused("days since 1582-10-10", "standard", "1582-10-05 to 1582-10-14 were skipped");
  expect_refused("days since 2000-13-01", "360_day", "does not exist");
  expect_refused("days since 0000-01-01", "julian", "year 0 does not exist in the julian calendar");
  expect_refused("days since 2000-01-01 24:00:00", "standard", "is not a time of day");
  expect_refused("days since 2000-01-01 12:60", "standard", "is not a time of day");
}

TEST(CfTimeErrors, MalformedUnits) {
  expect_refused("days", "standard", "no \"since\"");
  expect_refused("days after 2000-01-01", "standard", "no \"since\" after the unit");
  expect_refused("fortnights since 2000-01-01", "standard", "unknown time unit \"fortnights\"");
  expect_refused("days since 2000", "standard", "is not YYYY-M-D");
  expect_refused("days since 2000-01-01 6", "standard", "is not hh:mm");
  expect_refused("days since 2000-01-01 00:00:00 CET", "standard", "unexpected \"CET\"");
  expect_refused("days since 2000-01-01 00:00:00 +5:00x", "standard", "time zone");
}

TEST(CfTimeErrors, NonFiniteValueNamesItsPosition) {
  expect_refused("days since 2000-01-01", "standard", "at position 2", {0, 1, std::nan("")});
  expect_refused("days since 2000-01-01", "standard", "at position 0", {HUGE_VAL});
  expect_refused("days since 2000-01-01", "standard", "out of range", {1e300});
}

TEST(CfTime, DaysInMonthRejectsBadMonth) {
  EXPECT_THROW(days_in_month(Calendar::kNoLeap, 2000, 13), Error);
  EXPECT_THROW(days_in_month(Calendar::kStandard, 0, 1), Error);
}

}  // namespace
}  // namespace tessera::io

namespace tessera::io {
namespace {

TEST(CfTime, EncodingIsTheInverseOfDecoding) {
  for (const char* calendar :
       {"standard", "noleap", "360_day", "all_leap", "julian", "proleptic_gregorian"}) {
    const std::vector<double> values = {0, 0.5, 1, 59.25, 365, 366.75, 10000, -400.5};
    const TimeAxis a = decode_time(values, "days since 1979-01-01", calendar);
    EXPECT_EQ(encode_time(a.dates, "days since 1979-01-01", a.calendar), values) << calendar;
    // In other units the same instants: hours since another reference.
    const std::vector<double> hours = encode_time(a.dates, "hours since 1850-01-01 06:00", a.calendar);
    EXPECT_EQ(decode_time(hours, "hours since 1850-01-01 06:00", calendar).dates, a.dates) << calendar;
  }
  // 1870-01-01 in days since 1850-01-01 of the noleap calendar: 20 years of 365 days.
  const TimeAxis one = decode_time(std::vector<double>{0}, "days since 1870-01-01", "noleap");
  EXPECT_EQ(encode_time(one.dates, "days since 1850-01-01", Calendar::kNoLeap), std::vector<double>{7300});
}

TEST(CfTime, PartialDatesCoverWhatTheySay) {
  const Calendar c = Calendar::kNoLeap;
  auto micros = [c](int y, int m, int d) { return to_micros(c, Date{y, m, d, 0, 0, 0}); };
  DateSpan s = parse_date_span("1981", c);
  EXPECT_EQ(s.first, micros(1981, 1, 1));
  EXPECT_EQ(s.end, micros(1982, 1, 1));
  s = parse_date_span("1981-02", c);
  EXPECT_EQ(s.first, micros(1981, 2, 1));
  EXPECT_EQ(s.end, micros(1981, 3, 1));
  s = parse_date_span(" 1981-12-31 ", c);
  EXPECT_EQ(s.end, micros(1982, 1, 1));
  s = parse_date_span("1981-06-15 12:30", c);
  EXPECT_EQ(s.first, micros(1981, 6, 15) + (std::int64_t{12} * 3600 + 30 * 60) * 1'000'000);
  EXPECT_EQ(s.end, s.first + 1);
  // 30 February exists in the 360_day calendar only.
  EXPECT_NO_THROW(parse_date_span("2000-02-30", Calendar::k360Day));
  EXPECT_THAT(
      [] { parse_date_span("2001-02-29", Calendar::kStandard); },
      ::testing::ThrowsMessage<Error>(HasSubstr("\"2001-02-29\" does not exist in the standard calendar")));
  EXPECT_THAT([] { parse_date_span("1981/06", Calendar::kNoLeap); },
              ::testing::ThrowsMessage<Error>(HasSubstr("\"1981/06\" is not a date: unexpected \"/06\"")));
  EXPECT_THAT([] { parse_date_span("June", Calendar::kNoLeap); },
              ::testing::ThrowsMessage<Error>(HasSubstr("is not a date: no year")));
}

TEST(CfTime, MonthsAddAcrossYears) {
  EXPECT_EQ(add_months(Calendar::kStandard, Date{1999, 12, 15}, 1), (Date{2000, 1, 1}));
  EXPECT_EQ(add_months(Calendar::kStandard, Date{2000, 1, 31}, -1), (Date{1999, 12, 1}));
  EXPECT_EQ(add_months(Calendar::kStandard, Date{1, 1, 1}, -1), (Date{-1, 12, 1})) << "no year 0";
  EXPECT_EQ(add_months(Calendar::kNoLeap, Date{1, 1, 1}, -1), (Date{0, 12, 1}));
  EXPECT_EQ(from_micros(Calendar::k360Day, to_micros(Calendar::k360Day, Date{1990, 2, 30, 6, 0, 1.5})),
            (Date{1990, 2, 30, 6, 0, 1.5}));
}

}  // namespace
}  // namespace tessera::io
