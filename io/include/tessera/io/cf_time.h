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

// The inverse of decode_time: `dates` as numbers in CF `units` (same errors for the units). Dates on the
// units' grid give whole numbers exactly.
std::vector<double> encode_time(std::span<const Date> dates, std::string_view units, Calendar calendar);

// A date as microseconds since the calendar's day 0 (an order and a difference; not a CF encoding), and back.
std::int64_t to_micros(Calendar c, const Date& d);
Date from_micros(Calendar c, std::int64_t micros);
// The first day of the month `months` after the month of `d` (negative: before).
Date add_months(Calendar c, const Date& d, int months);

// What a date written as a string covers, as xarray reads partial dates: "1981" is the whole year,
// "1981-06" the month, "1981-06-15" the day, "1981-06-15 12:00[:00]" that instant. [first, end) in
// to_micros units. Throws Error(kInvalidArgument) for text that is not such a date or a date the calendar
// does not have ("2001-02-30" in the standard calendar; it exists in 360_day).
struct DateSpan {
  std::int64_t first = 0;
  std::int64_t end = 0;
};
DateSpan parse_date_span(std::string_view text, Calendar calendar);

// Days in `month` of `year` in a calendar (21 for October 1582 in the standard calendar). Throws
// Error(kInvalidArgument) for a month outside 1..12 or year 0 in the standard and julian calendars.
int days_in_month(Calendar c, int year, int month);

}  // namespace tessera::io
