// The page that draws a run: one HTML document with an inline script, used frozen (the HTML report, its data
// inlined) and live (the dashboard, which fetches the same kind of data from its server every second and
// redraws). One drawing code path for both.
#pragma once

#include <ostream>
#include <string_view>

namespace tessera::detail {

// Writes the page with `data` (a JSON object in the report's schema) inlined, or, when `data` is "null", the
// live page, which polls "data" + its own query string (the token) once a second.
void write_report_page(std::ostream& out, std::string_view data);

}  // namespace tessera::detail
