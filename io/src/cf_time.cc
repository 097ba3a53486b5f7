#include "tessera/io/cf_time.h"

#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <string>

#include "tessera/runtime/error.h"

namespace tessera::io {
namespace {

constexpr std::int64_t kMicrosPerSecond = 1'000'000;
constexpr std::int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;

// Julian day number of 1582-10-15 (Gregorian), the first day of the Gregorian part of the standard calendar.
constexpr std::int64_t kGregorianStartJdn = 2'299'161;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool gregorian_leap(std::int64_t astronomical_year) {
  return (astronomical_year % 4 == 0 && astronomical_year % 100 != 0) || astronomical_year % 400 == 0;
}
bool julian_leap(std::int64_t astronomical_year) {
  return astronomical_year % 4 == 0;
}

constexpr std::array<int, 12> kMonthDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

// The standard and Julian calendars (as in cftime) have no year 0: year -1 precedes year 1. Internally years
// are astronomical (1 BC = 0).
bool has_year_zero(Calendar c) {
  return c != Calendar::kStandard && c != Calendar::kJulian;
}

std::int64_t to_astronomical(Calendar c, std::int64_t year) {
  return (!has_year_zero(c) && year < 0) ? year + 1 : year;
}
int from_astronomical(Calendar c, std::int64_t year) {
  return static_cast<int>((!has_year_zero(c) && year <= 0) ? year - 1 : year);
}

// Julian day numbers (day 0 = -4712-01-01 Julian) from astronomical year, month, day.
std::int64_t jdn_from_gregorian(std::int64_t y, int m, int d) {
  const std::int64_t a = (14 - m) / 12;
  const std::int64_t yy = y + 4800 - a;
  const std::int64_t mm = m + 12 * a - 3;
  return d + (153 * mm + 2) / 5 + 365 * yy + floor_div(yy, 4) - floor_div(yy, 100) + floor_div(yy, 400) -
         32045;
}
std::int64_t jdn_from_julian(std::int64_t y, int m, int d) {
  const std::int64_t a = (14 - m) / 12;
  const std::int64_t yy = y + 4800 - a;
  const std::int64_t mm = m + 12 * a - 3;
  return d + (153 * mm + 2) / 5 + 365 * yy + floor_div(yy, 4) - 32083;
}

struct Ymd {
  std::int64_t year;
  int month, day;
};

// Richards' algorithm (valid for non-negative day numbers); earlier days are first moved forward by whole
// calendar cycles (400 Gregorian years = 146097 days, 4 Julian years = 1461 days).
Ymd ymd_from_jdn(std::int64_t jdn, bool gregorian) {
  const std::int64_t cycle_days = gregorian ? 146097 : 1461;
  const std::int64_t cycle_years = gregorian ? 400 : 4;
  std::int64_t shift = 0;
  if (jdn < 0) {
    shift = floor_div(-jdn, cycle_days) + 1;
    jdn += shift * cycle_days;
  }
  std::int64_t f = jdn + 1401;
  if (gregorian) f += (((4 * jdn + 274277) / 146097) * 3) / 4 - 38;
  const std::int64_t e = 4 * f + 3;
  const std::int64_t g = (e % 1461) / 4;
  const std::int64_t h = 5 * g + 2;
  const int day = static_cast<int>((h % 153) / 5 + 1);
  const int month = static_cast<int>(((h / 153 + 2) % 12) + 1);
  const std::int64_t year = e / 1461 - 4716 + (12 + 2 - month) / 12;
  return {year - shift * cycle_years, month, day};
}

int year_length(Calendar c) {
  return c == Calendar::kNoLeap ? 365 : c == Calendar::kAllLeap ? 366 : 360;
}

// Day of the year (0-based) at the start of each month in the noleap and all_leap calendars.
int month_start(bool leap, int month) {
  int days = 0;
  for (int m = 1; m < month; ++m) days += kMonthDays[m - 1] + (leap && m == 2 ? 1 : 0);
  return days;
}

// Nominal month length by the calendar's leap rule (1582-10 of the standard calendar counts 31 here).
int nominal_days_in_month(Calendar c, std::int64_t astronomical_year, int month) {
  switch (c) {
    case Calendar::k360Day:
      return 30;
    case Calendar::kNoLeap:
      return kMonthDays[month - 1];
    case Calendar::kAllLeap:
      return month == 2 ? 29 : kMonthDays[month - 1];
    case Calendar::kProlepticGregorian:
      return month == 2 && gregorian_leap(astronomical_year) ? 29 : kMonthDays[month - 1];
    case Calendar::kJulian:
      return month == 2 && julian_leap(astronomical_year) ? 29 : kMonthDays[month - 1];
    case Calendar::kStandard: {
      const bool leap =
          astronomical_year < 1582 ? julian_leap(astronomical_year) : gregorian_leap(astronomical_year);
      return month == 2 && leap ? 29 : kMonthDays[month - 1];
    }
  }
  return 0;
}

// A day count in the calendar: the Julian day number for the real-world calendars, days since year 0 for the
// idealised ones. `year` is astronomical; the date must be valid.
std::int64_t day_number(Calendar c, std::int64_t year, int month, int day) {
  switch (c) {
    case Calendar::kProlepticGregorian:
      return jdn_from_gregorian(year, month, day);
    case Calendar::kJulian:
      return jdn_from_julian(year, month, day);
    case Calendar::kStandard: {
      const std::int64_t g = jdn_from_gregorian(year, month, day);
      return g >= kGregorianStartJdn ? g : jdn_from_julian(year, month, day);
    }
    case Calendar::kNoLeap:
    case Calendar::kAllLeap:
      return year * year_length(c) + month_start(c == Calendar::kAllLeap, month) + day - 1;
    case Calendar::k360Day:
      return year * 360 + (month - 1) * 30 + day - 1;
  }
  return 0;
}

Ymd date_of_day_number(Calendar c, std::int64_t n) {
  switch (c) {
    case Calendar::kProlepticGregorian:
      return ymd_from_jdn(n, true);
    case Calendar::kJulian:
      return ymd_from_jdn(n, false);
    case Calendar::kStandard:
      return ymd_from_jdn(n, n >= kGregorianStartJdn);
    case Calendar::kNoLeap:
    case Calendar::kAllLeap:
    case Calendar::k360Day: {
      const int len = year_length(c);
      const std::int64_t year = floor_div(n, len);
      int doy = static_cast<int>(n - year * len);
      if (c == Calendar::k360Day) return {year, doy / 30 + 1, doy % 30 + 1};
      int month = 1;
      while (month < 12 && doy >= month_start(c == Calendar::kAllLeap, month + 1)) ++month;
      return {year, month, doy - month_start(c == Calendar::kAllLeap, month) + 1};
    }
  }
  return {0, 1, 1};
}

// Parses digits at `pos` (at most `max_digits`, at least one); advances pos.
bool parse_int(std::string_view s, std::size_t& pos, int max_digits, std::int64_t& out) {
  std::size_t start = pos;
  out = 0;
  while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])) &&
         static_cast<int>(pos - start) < max_digits) {
    out = out * 10 + (s[pos] - '0');
    ++pos;
  }
  return pos > start;
}

struct Reference {
  std::int64_t day = 0;     // day number in the calendar
  std::int64_t micros = 0;  // time of day minus the time-zone offset (may leave [0, 1 day))
};

[[noreturn]] void bad_units(std::string_view units, std::string_view why) {
  throw_error(ErrorCode::kInvalidArgument, "time units \"", units, "\": ", why,
              " (expected \"seconds|minutes|hours|days since YYYY-M-D[ hh:mm[:ss[.f]]][ tz]\")");
}

Reference parse_reference(std::string_view units, std::string_view text, Calendar calendar) {
  std::size_t pos = 0;
  bool negative = false;
  if (pos < text.size() && (text[pos] == '-' || text[pos] == '+')) negative = text[pos++] == '-';
  std::int64_t year = 0, month = 0, day = 0;
  if (!parse_int(text, pos, 9, year) || pos >= text.size() || text[pos++] != '-' ||
      !parse_int(text, pos, 2, month) || pos >= text.size() || text[pos++] != '-' ||
      !parse_int(text, pos, 2, day)) {
    bad_units(units, str_cat("reference date \"", text, "\" is not YYYY-M-D"));
  }
  if (negative) year = -year;
  std::int64_t hour = 0, minute = 0, second = 0, micros = 0;
  // Time: separated by 'T' or blanks.
  std::size_t after_date = pos;
  std::size_t p = pos;
  if (p < text.size() && (text[p] == 'T' || text[p] == 't')) {
    ++p;
  } else {
    while (p < text.size() && text[p] == ' ') ++p;
  }
  if (p < text.size() && std::isdigit(static_cast<unsigned char>(text[p]))) {
    if (!parse_int(text, p, 2, hour) || p >= text.size() || text[p++] != ':' ||
        !parse_int(text, p, 2, minute)) {
      bad_units(units, str_cat("time of day in \"", text, "\" is not hh:mm[:ss[.f]]"));
    }
    if (p < text.size() && text[p] == ':') {
      ++p;
      if (!parse_int(text, p, 2, second)) bad_units(units, str_cat("seconds in \"", text, "\" are missing"));
      if (p < text.size() && text[p] == '.') {
        ++p;
        std::size_t start = p;
        std::int64_t scale = 100'000;
        while (p < text.size() && std::isdigit(static_cast<unsigned char>(text[p]))) {
          // Digits beyond microseconds are dropped, as cftime does.
          micros += (text[p] - '0') * scale;
          scale /= 10;
          ++p;
        }
        if (p == start) bad_units(units, str_cat("fraction of a second in \"", text, "\" is empty"));
      }
    }
    after_date = p;
  }
  // Time zone: Z, UTC, GMT, or an offset +h[h][[:]mm].
  std::int64_t offset_minutes = 0;
  pos = after_date;
  while (pos < text.size() && text[pos] == ' ') ++pos;
  std::string_view rest = text.substr(pos);
  std::string rest_lower = lower(rest);
  if (rest.empty() || rest_lower == "z" || rest_lower == "utc" || rest_lower == "gmt") {
    // UTC
  } else if (rest[0] == '+' || rest[0] == '-') {
    std::size_t q = 1;
    std::int64_t oh = 0, om = 0;
    bool ok = parse_int(rest, q, 2, oh);
    if (ok && q < rest.size() && rest[q] == ':') {
      ++q;
      ok = parse_int(rest, q, 2, om);
    } else if (ok && q < rest.size()) {
      ok = parse_int(rest, q, 2, om);
    }
    if (!ok || q != rest.size() || oh > 23 || om > 59) {
      bad_units(units, str_cat("time zone \"", rest, "\" is not Z, UTC or +hh:mm"));
    }
    offset_minutes = (oh * 60 + om) * (rest[0] == '-' ? -1 : 1);
  } else {
    bad_units(units, str_cat("unexpected \"", rest, "\" after the reference date"));
  }

  const std::string date_text = str_cat(year, "-", month, "-", day);
  if (year == 0 && !has_year_zero(calendar)) {
    bad_units(units,
              str_cat("year 0 does not exist in the ", name_of(calendar), " calendar (year -1 precedes 1)"));
  }
  const std::int64_t ayear = to_astronomical(calendar, year);
  if (month < 1 || month > 12 || day < 1 ||
      day > nominal_days_in_month(calendar, ayear, static_cast<int>(month))) {
    bad_units(units, str_cat("reference date ", date_text, " does not exist in the ", name_of(calendar),
                             " calendar"));
  }
  if (calendar == Calendar::kStandard && ayear == 1582 && month == 10 && day > 4 && day < 15) {
    bad_units(units,
              str_cat("reference date ", date_text,
                      " does not exist in the standard calendar (1582-10-05 to 1582-10-14 were skipped)"));
  }
  if (hour > 23 || minute > 59 || second > 59) {
    bad_units(units, str_cat("reference time ", hour, ":", minute, ":", second, " is not a time of day"));
  }
  Reference ref;
  ref.day = day_number(calendar, ayear, static_cast<int>(month), static_cast<int>(day));
  ref.micros = ((hour * 60 + minute - offset_minutes) * 60 + second) * kMicrosPerSecond + micros;
  return ref;
}

std::int64_t unit_micros(std::string_view units, const std::string& unit) {
  static constexpr std::pair<std::string_view, std::int64_t> kUnits[] = {
      {"microseconds", 1},
      {"microsecond", 1},
      {"us", 1},
      {"usec", 1},
      {"usecs", 1},
      {"milliseconds", 1000},
      {"millisecond", 1000},
      {"ms", 1000},
      {"msec", 1000},
      {"msecs", 1000},
      {"seconds", kMicrosPerSecond},
      {"second", kMicrosPerSecond},
      {"secs", kMicrosPerSecond},
      {"sec", kMicrosPerSecond},
      {"s", kMicrosPerSecond},
      {"minutes", 60 * kMicrosPerSecond},
      {"minute", 60 * kMicrosPerSecond},
      {"mins", 60 * kMicrosPerSecond},
      {"min", 60 * kMicrosPerSecond},
      {"hours", 3600 * kMicrosPerSecond},
      {"hour", 3600 * kMicrosPerSecond},
      {"hrs", 3600 * kMicrosPerSecond},
      {"hr", 3600 * kMicrosPerSecond},
      {"h", 3600 * kMicrosPerSecond},
      {"days", kMicrosPerDay},
      {"day", kMicrosPerDay},
      {"d", kMicrosPerDay},
  };
  for (const auto& [name, micros] : kUnits) {
    if (unit == name) return micros;
  }
  if (unit == "months" || unit == "month" || unit == "years" || unit == "year" || unit == "common_years" ||
      unit == "common_year") {
    bad_units(units,
              str_cat("\"", unit,
                      " since\" is refused: the length of a month or year is ambiguous in CF; store the "
                      "time in days, hours, minutes or seconds"));
  }
  bad_units(units, str_cat("unknown time unit \"", unit, "\""));
}

}  // namespace

Calendar parse_calendar(std::string_view name) {
  const std::string n = lower(trim(name));
  if (n == "standard" || n == "gregorian") return Calendar::kStandard;
  if (n == "proleptic_gregorian") return Calendar::kProlepticGregorian;
  if (n == "julian") return Calendar::kJulian;
  if (n == "noleap" || n == "365_day") return Calendar::kNoLeap;
  if (n == "all_leap" || n == "366_day") return Calendar::kAllLeap;
  if (n == "360_day") return Calendar::k360Day;
  throw_error(
      ErrorCode::kInvalidArgument, "unknown calendar \"", name,
      "\" (valid: standard, gregorian, proleptic_gregorian, julian, noleap, 365_day, all_leap, 366_day, "
      "360_day)");
}

std::string_view name_of(Calendar c) noexcept {
  switch (c) {
    case Calendar::kStandard:
      return "standard";
    case Calendar::kProlepticGregorian:
      return "proleptic_gregorian";
    case Calendar::kJulian:
      return "julian";
    case Calendar::kNoLeap:
      return "noleap";
    case Calendar::kAllLeap:
      return "all_leap";
    case Calendar::k360Day:
      return "360_day";
  }
  return "?";
}

std::string format_date(const Date& d) {
  const double whole = std::floor(d.second);
  auto micros = static_cast<long long>(std::llround((d.second - whole) * 1e6));
  auto seconds = static_cast<long long>(whole);
  if (micros >= 1'000'000) {
    micros -= 1'000'000;
    ++seconds;
  }
  char buf[96];
  const char* sign = d.year < 0 ? "-" : "";
  const long long year = d.year < 0 ? -static_cast<long long>(d.year) : d.year;
  if (micros == 0) {
    std::snprintf(buf, sizeof buf, "%s%04lld-%02d-%02d %02d:%02d:%02lld", sign, year, d.month, d.day, d.hour,
                  d.minute, seconds);
  } else {
    std::snprintf(buf, sizeof buf, "%s%04lld-%02d-%02d %02d:%02d:%02lld.%06lld", sign, year, d.month, d.day,
                  d.hour, d.minute, seconds, micros);
  }
  return buf;
}

int days_in_month(Calendar c, int year, int month) {
  if (month < 1 || month > 12) {
    throw_error(ErrorCode::kInvalidArgument, "month ", month, " is not in 1..12");
  }
  if (year == 0 && !has_year_zero(c)) {
    throw_error(ErrorCode::kInvalidArgument, "year 0 does not exist in the ", name_of(c), " calendar");
  }
  const std::int64_t ayear = to_astronomical(c, year);
  if (c == Calendar::kStandard && ayear == 1582 && month == 10) return 21;
  return nominal_days_in_month(c, ayear, month);
}

namespace {

struct ParsedUnits {
  std::int64_t step = 0;  // microseconds per unit
  Reference ref;
};

ParsedUnits parse_units(std::string_view units, Calendar calendar) {
  const std::string_view text = trim(units);
  const std::size_t unit_end = text.find_first_of(" \t");
  if (unit_end == std::string_view::npos) bad_units(units, "no \"since\"");
  const std::string unit = lower(text.substr(0, unit_end));
  std::string_view rest = trim(text.substr(unit_end));
  if (lower(rest.substr(0, 5)) != "since" ||
      (rest.size() > 5 && !std::isspace(static_cast<unsigned char>(rest[5])))) {
    bad_units(units, "no \"since\" after the unit");
  }
  ParsedUnits p;
  p.step = unit_micros(units, unit);
  p.ref = parse_reference(units, trim(rest.substr(5)), calendar);
  return p;
}

}  // namespace

std::int64_t to_micros(Calendar c, const Date& d) {
  const std::int64_t day = day_number(c, to_astronomical(c, d.year), d.month, d.day);
  const auto second = static_cast<std::int64_t>(std::llround(d.second * 1e6));
  return day * kMicrosPerDay + (static_cast<std::int64_t>(d.hour) * 60 + d.minute) * 60 * kMicrosPerSecond +
         second;
}

Date from_micros(Calendar c, std::int64_t micros) {
  const std::int64_t day = floor_div(micros, kMicrosPerDay);
  std::int64_t in_day = micros - day * kMicrosPerDay;
  const Ymd ymd = date_of_day_number(c, day);
  Date d;
  d.year = from_astronomical(c, ymd.year);
  d.month = ymd.month;
  d.day = ymd.day;
  d.hour = static_cast<int>(in_day / (3600 * kMicrosPerSecond));
  in_day -= d.hour * 3600 * kMicrosPerSecond;
  d.minute = static_cast<int>(in_day / (60 * kMicrosPerSecond));
  in_day -= d.minute * 60 * kMicrosPerSecond;
  d.second =
      static_cast<double>(in_day / kMicrosPerSecond) + static_cast<double>(in_day % kMicrosPerSecond) / 1e6;
  return d;
}

Date add_months(Calendar c, const Date& d, int months) {
  std::int64_t m = static_cast<std::int64_t>(to_astronomical(c, d.year)) * 12 + (d.month - 1) + months;
  Date out;
  out.year = from_astronomical(c, floor_div(m, 12));
  out.month = static_cast<int>(m - floor_div(m, 12) * 12) + 1;
  out.day = 1;
  return out;
}

TimeAxis decode_time(std::span<const double> values, std::string_view units, std::string_view calendar) {
  TimeAxis axis;
  axis.units = std::string(units);
  axis.calendar = parse_calendar(calendar);
  const ParsedUnits p = parse_units(units, axis.calendar);
  axis.dates.reserve(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    if (!std::isfinite(v)) {
      throw_error(ErrorCode::kInvalidArgument, "time value ", v, " at position ", i, " (units \"", units,
                  "\") is not finite");
    }
    // Whole units and the fraction separately, so that e.g. 36500.25 days is exactly 36500 days + 6 h.
    const double whole = std::floor(v);
    if (std::fabs(whole) * static_cast<double>(p.step) > 4.0e18) {
      throw_error(ErrorCode::kInvalidArgument, "time value ", v, " at position ", i, " (units \"", units,
                  "\") is out of range");
    }
    // Rounded to the nearest microsecond, ties to even (as cftime's numpy rounding of value * factor).
    const double part = (v - whole) * static_cast<double>(p.step);
    const double part_floor = std::floor(part);
    std::int64_t micros = static_cast<std::int64_t>(whole) * p.step + static_cast<std::int64_t>(part_floor);
    if (part - part_floor > 0.5 || (part - part_floor == 0.5 && micros % 2 != 0)) ++micros;
    axis.dates.push_back(from_micros(axis.calendar, p.ref.day * kMicrosPerDay + p.ref.micros + micros));
  }
  return axis;
}

std::vector<double> encode_time(std::span<const Date> dates, std::string_view units, Calendar calendar) {
  const ParsedUnits p = parse_units(units, calendar);
  const std::int64_t origin = p.ref.day * kMicrosPerDay + p.ref.micros;
  std::vector<double> out;
  out.reserve(dates.size());
  for (const Date& d : dates) {
    const std::int64_t micros = to_micros(calendar, d) - origin;
    // Whole units exactly, then the remainder: a date on the unit grid gives an integer-valued double.
    const std::int64_t whole = floor_div(micros, p.step);
    out.push_back(static_cast<double>(whole) +
                  static_cast<double>(micros - whole * p.step) / static_cast<double>(p.step));
  }
  return out;
}

DateSpan parse_date_span(std::string_view text, Calendar calendar) {
  const std::string_view t = trim(text);
  auto bad = [&](std::string_view why) -> DateSpan {
    throw_error(ErrorCode::kInvalidArgument, "\"", text, "\" is not a date: ", why,
                " (expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DD hh:mm[:ss])");
  };
  std::size_t pos = 0;
  bool negative = false;
  if (pos < t.size() && t[pos] == '-') {
    negative = true;
    ++pos;
  }
  std::int64_t year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0;
  if (!parse_int(t, pos, 9, year)) return bad("no year");
  if (negative) year = -year;
  int precision = 0;  // 0 year, 1 month, 2 day, 3 time
  if (pos < t.size() && t[pos] == '-') {
    ++pos;
    if (!parse_int(t, pos, 2, month)) return bad("no month after the year");
    precision = 1;
    if (pos < t.size() && t[pos] == '-') {
      ++pos;
      if (!parse_int(t, pos, 2, day)) return bad("no day after the month");
      precision = 2;
      if (pos < t.size() && (t[pos] == ' ' || t[pos] == 'T')) {
        ++pos;
        if (!parse_int(t, pos, 2, hour) || pos >= t.size() || t[pos++] != ':' ||
            !parse_int(t, pos, 2, minute)) {
          return bad("the time of day is not hh:mm");
        }
        if (pos < t.size() && t[pos] == ':') {
          ++pos;
          if (!parse_int(t, pos, 2, second)) return bad("no seconds after the minutes");
        }
        precision = 3;
      }
    }
  }
  if (pos != t.size()) return bad(str_cat("unexpected \"", t.substr(pos), "\""));
  if (year == 0 && !has_year_zero(calendar)) {
    throw_error(ErrorCode::kInvalidArgument, "\"", text, "\": year 0 does not exist in the ",
                name_of(calendar), " calendar");
  }
  if (month < 1 || month > 12 || day < 1 ||
      day > nominal_days_in_month(calendar, to_astronomical(calendar, year), static_cast<int>(month)) ||
      hour > 23 || minute > 59 || second > 59) {
    throw_error(ErrorCode::kInvalidArgument, "\"", text, "\" does not exist in the ", name_of(calendar),
                " calendar");
  }
  Date first;
  first.year = static_cast<int>(year);
  first.month = static_cast<int>(month);
  first.day = static_cast<int>(day);
  first.hour = static_cast<int>(hour);
  first.minute = static_cast<int>(minute);
  first.second = static_cast<double>(second);
  DateSpan span;
  span.first = to_micros(calendar, first);
  switch (precision) {
    case 0:
      span.end = to_micros(calendar, add_months(calendar, first, 12));
      break;
    case 1:
      span.end = to_micros(calendar, add_months(calendar, first, 1));
      break;
    case 2:
      span.end = span.first + kMicrosPerDay;
      break;
    default:
      span.end = span.first + 1;
      break;
  }
  return span;
}

}  // namespace tessera::io
