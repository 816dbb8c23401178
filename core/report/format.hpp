// Number and text formatting shared by the report's tables and page (internal to core/report:
// report.hpp does not include it).
#pragma once

#include <string>
#include <vector>

#include "core/report/statistics.hpp"

namespace quarry::report {

/// Accuracies are fractions in [0, 1] in memory and in the CSVs; what people read shows percent.
std::string pct(double v);
std::string pm(const MeanStd& m);  ///< "mean ± std" in percent, "-" without values
std::string esc(const std::string& s);  ///< for HTML and SVG text and attributes

/// CSV (RFC 4180): a field quoted when it holds a comma, quote or line break; a row ends in "\n".
std::string csv_row(const std::vector<std::string>& fields);
std::string num(double v);  ///< shortest round-trip text of a number, for the CSVs

}  // namespace quarry::report
