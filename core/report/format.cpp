// Number and text formatting shared by the report's tables and page.
#include "core/report/format.hpp"

#include <fmt/format.h>

#include "core/util/svg.hpp"

namespace quarry::report {

std::string pct(double v) { return fmt::format("{:.2f}", 100.0 * v); }
std::string pm(const MeanStd& m) { return m.n == 0 ? "-" : pct(m.mean) + " ± " + pct(m.std); }

std::string esc(const std::string& s) { return svg::escape(s); }

namespace {
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}
}  // namespace

std::string csv_row(const std::vector<std::string>& fields) {
  std::string row;
  for (std::size_t i = 0; i < fields.size(); ++i) row += (i ? "," : "") + csv_field(fields[i]);
  return row + "\n";
}
std::string num(double v) { return fmt::format("{}", v); }

}  // namespace quarry::report
