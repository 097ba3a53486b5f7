// CF time coordinates: "<unit> since <reference date>" with a calendar, decoded to dates.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::io {

// CF calendars. kStandard is the mixed Julian/Gregorian calendar (Julian before 1582-10-15), as in cftime.
enum class Calendar { kStandard, kProlepticGregorian, kJulian, kNoLeap, kAllLeap, k360Day };

// "standard"/"gregorian", "proleptic_gregorian", "julian", "noleap"/"365_day", "all_leap"/"366_day",
// "360_day" (case-insensitive). Throws Error(kInvalidArgument) naming the calendar and listing valid ones.
Calendar parse_calendar(std::string_view name);
std::string_view name_of(Calendar c) noexcept;

struct Date {
  int year = 1970, month = 1, day = 1, hour = 0, minute = 0;
  double second = 0;
  friend bool operator==(const Date&, const Date&) = default;
};
// "2000-01-31 12:00:00", "-0001-12-31 06:00:00.250000" (microseconds only when there are some).
std::string format_date(const Date& d);

struct TimeAxis {
  std::string units;  // as written, e.g. "days since 1850-01-01"
  Calendar calendar = Calendar::kStandard;
  std::vector<Date> dates;
};

// Decodes `values` in CF `units` ("seconds|minutes|hours|days since YYYY-M-D[ hh:mm[:ss[.f]]][ tz]", also
// "T" between date and time) in `calendar`. Throws Error(kInvalidArgument) for units that are not of that
// form (months and years since ... are refused: their length is ambiguous in CF), a reference date that does
// not exist in the calendar (2001-02-30 in a standard calendar), or a non-finite value (names its position).
// As in cftime: times are exact to the microsecond (whole units and the fraction are added separately, the
// fraction rounded to the nearest microsecond, ties to even); the standard and julian calendars have no year
// 0 (year -1 precedes year 1), the others do; a time-zone offset in the units ("+05:00") is subtracted.
TimeAxis decode_time(std::span<const double> values, std::string_view units, std::string_view calendar);

// Days in `month` of `year` in a calendar (21 for October 1582 in the standard calendar). Throws
// Error(kInvalidArgument) for a month outside 1..12 or year 0 in the standard and julian calendars.
int days_in_month(Calendar c, int year, int month);

}  // namespace tessera::io
