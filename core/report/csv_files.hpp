// The CSV behind every number and figure of a report (internal to core/report).
#pragma once

#include <filesystem>
#include <vector>

#include "core/report/report.hpp"

namespace quarry::report {

/// curves.csv, curve_points.csv, cost.csv, aubc.csv, aubc_runs.csv, penalty.csv,
/// penalty_tests.csv, table1.csv, runs.csv, searches.csv, reuse.csv into `out`.
void write_csv_files(const std::filesystem::path& out, const ReportData& data, const ReportParts& parts,
                     std::vector<std::filesystem::path>& written);

}  // namespace quarry::report
