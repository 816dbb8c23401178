// The pairwise penalty matrix (Ash et al. 2020, BADGE; Lüth et al. 2023): for each ordered
// pair of strategies, how often the row beats the column significantly.
//
// A point is a (dataset, model, setting, pool size); at each, every pair of strategies is
// compared by a paired two-sided t-test over the seeds both have there (alpha = 0.05). A
// significant win adds 1 / L to the row's cell, L the number of pool sizes compared in that
// (dataset, model, setting), so every setting weighs at most 1 and a cell is at most the number
// of settings. The initial pool (a setting's smallest size) is left out: every strategy starts
// from the same seeded random pool, so there is nothing to compare.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/report/data.hpp"
#include "core/report/significance.hpp"

namespace quarry::report {

/// One test: strategies `a` (row) and `b` (column), a < b in the matrix's order.
struct PenaltyTest {
  std::string dataset, model, hp;
  std::int64_t labeled = 0;
  std::string a, b;
  TTest test;          ///< on a - b, paired by seed
  double weight = 0;   ///< 1 / L of the setting
  std::string winner;  ///< a, b or "" (not significant, or fewer than 2 seeds in common)
};

struct PenaltyMatrix {
  double alpha = 0.05;
  std::vector<std::string> strategies;  ///< the study's order
  std::vector<double> wins;             ///< row-major: wins[row * n + col], row beats col
  std::size_t settings = 0;             ///< (dataset, model, setting) with at least one size compared
  std::vector<PenaltyTest> tests;
  double at(std::size_t row, std::size_t col) const { return wins[row * strategies.size() + col]; }
  double beaten(std::size_t col) const;  ///< column sum: how often the column lost
};

PenaltyMatrix penalty_matrix(const ReportData& data, double alpha = 0.05);

/// Heat map with the numbers in the cells and each cell's meaning on hover (<title>).
std::string penalty_svg(const PenaltyMatrix& m);
/// penalty.csv (the matrix, one row per ordered pair) and penalty_tests.csv (every test).
std::string penalty_csv(const PenaltyMatrix& m);
std::string penalty_tests_csv(const PenaltyMatrix& m);

}  // namespace quarry::report
