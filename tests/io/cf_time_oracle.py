"""Oracle for tests/io/cf_time_test.cc: decodes CF time values with cftime.num2date.

Usage: cf_time_oracle.py CASES OUT
CASES has one case a line: "calendar|units|v1 v2 ..." (values as %.17g). OUT gets one line a case:
"OK|date;date;..." with dates as tessera::io::format_date writes them, or "ERR|message".
"""
import sys
import warnings

import cftime
import numpy as np


def fmt(d):
    sign = "-" if d.year < 0 else ""
    s = f"{sign}{abs(d.year):04d}-{d.month:02d}-{d.day:02d} {d.hour:02d}:{d.minute:02d}:{d.second:02d}"
    if d.microsecond:
        s += f".{d.microsecond:06d}"
    return s


def main(cases_path, out_path):
    warnings.simplefilter("ignore")  # year-zero conventions CF does not cover are tested on purpose
    with open(cases_path) as f, open(out_path, "w") as out:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            calendar, units, values = line.split("|")
            values = np.array([float(v) for v in values.split()], dtype=np.float64)
            try:
                dates = cftime.num2date(values, units, calendar, only_use_cftime_datetimes=True)
                out.write("OK|" + ";".join(fmt(d) for d in np.atleast_1d(dates)) + "\n")
            except Exception as e:  # noqa: BLE001 - any refusal is an expected error
                out.write("ERR|" + str(e).replace("\n", " ") + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
