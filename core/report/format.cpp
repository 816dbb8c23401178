// Number and text formatting shared by the report's tables and page.
#include "core/report/format.hpp"

#include <fmt/format.h>

#include "core/util/svg.hpp"

namespace quarry::report {

std::string pct(double v) { return fmt::format("{:.2f}", 100.0 * v); }
std::string pm(const MeanStd& m) { return m.n == 0 ? "-" : pct(m.mean) + " ± " + pct(m.std); }

std::string esc(const std::string& s) { return svg::escape(s); }

}  // namespace quarry::report
