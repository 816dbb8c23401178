// The pairwise penalty matrix from the al runs' curves, its heat map and CSVs.
#include "core/report/penalty.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "core/report/format.hpp"
#include "core/util/svg.hpp"

namespace quarry::report {

double PenaltyMatrix::beaten(std::size_t col) const {
  double s = 0;
  for (std::size_t r = 0; r < strategies.size(); ++r) s += at(r, col);
  return s;
}

PenaltyMatrix penalty_matrix(const ReportData& data, double alpha) {
  PenaltyMatrix m;
  m.alpha = alpha;
  // (dataset, model, hp) -> strategy -> labeled -> seed -> accuracy
  using BySeed = std::map<std::int64_t, double>;
  std::map<std::tuple<std::string, std::string, std::string>, std::map<std::string, std::map<std::int64_t, BySeed>>>
      settings;
  std::set<std::string> strategy_set;
  for (const auto& r : data.runs) {
    if (r.run.kind != "al") continue;
    strategy_set.insert(strategy_of(r.run));
    auto& curves = settings[{r.run.dataset, r.run.model, r.hp}][strategy_of(r.run)];
    for (const auto& c : r.cycles) curves[c.labeled][r.run.seed] = c.test_accuracy;
  }
  m.strategies = sorted_unique(strategy_set, strategy_less);
  const std::size_t n = m.strategies.size();
  m.wins.assign(n * n, 0.0);
  auto index = [&](const std::string& s) {
    return static_cast<std::size_t>(std::find(m.strategies.begin(), m.strategies.end(), s) - m.strategies.begin());
  };
  std::vector<std::tuple<std::string, std::string, std::string>> keys;
  for (const auto& [k, v] : settings) keys.push_back(k);
  std::stable_sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
    if (std::get<0>(a) != std::get<0>(b)) return std::get<0>(a) < std::get<0>(b);
    if (std::get<1>(a) != std::get<1>(b)) return std::get<1>(a) < std::get<1>(b);
    return hp_less(std::get<2>(a), std::get<2>(b));
  });
  for (const auto& key : keys) {
    const auto& by_strategy = settings[key];
    if (by_strategy.size() < 2) continue;
    // Sizes at least two strategies reached, less the initial pool.
    std::map<std::int64_t, std::size_t> reached;
    for (const auto& [s, curves] : by_strategy)
      for (const auto& [labeled, seeds] : curves) ++reached[labeled];
    std::vector<std::int64_t> sizes;
    for (const auto& [labeled, count] : reached)
      if (count >= 2) sizes.push_back(labeled);
    if (!reached.empty() && !sizes.empty() && sizes.front() == reached.begin()->first) sizes.erase(sizes.begin());
    if (sizes.empty()) continue;
    ++m.settings;
    const double weight = 1.0 / static_cast<double>(sizes.size());
    std::vector<std::string> present;
    for (const auto& [s, curves] : by_strategy) present.push_back(s);
    std::stable_sort(present.begin(), present.end(), strategy_less);
    for (auto labeled : sizes)
      for (std::size_t i = 0; i < present.size(); ++i)
        for (std::size_t j = i + 1; j < present.size(); ++j) {
          const auto& ca = by_strategy.at(present[i]);
          const auto& cb = by_strategy.at(present[j]);
          const auto ia = ca.find(labeled), ib = cb.find(labeled);
          if (ia == ca.end() || ib == cb.end()) continue;
          std::vector<double> a, b;
          for (const auto& [seed, v] : ia->second)
            if (const auto it = ib->second.find(seed); it != ib->second.end()) a.push_back(v), b.push_back(it->second);
          PenaltyTest t;
          std::tie(t.dataset, t.model, t.hp) = key;
          t.labeled = labeled;
          t.a = present[i];
          t.b = present[j];
          t.test = paired_t_test(a, b);
          t.weight = weight;
          if (t.test.significant(alpha)) {
            t.winner = t.test.mean_diff > 0 ? t.a : t.b;
            const std::string loser = t.test.mean_diff > 0 ? t.b : t.a;
            m.wins[index(t.winner) * n + index(loser)] += weight;
          }
          m.tests.push_back(std::move(t));
        }
  }
  return m;
}

std::string penalty_svg(const PenaltyMatrix& m) {
  const std::size_t n = m.strategies.size();
  const double cell = 64, left = 130, top = 96, label_h = 20;
  const double width = std::max(520.0, left + cell * static_cast<double>(n) + 40);
  const double height = top + cell * static_cast<double>(n + 1) + 70;
  svg::Document d(width, height);
  d.text(width / 2, 24, "Pairwise penalty matrix: row beats column", 16, "middle", "bold");
  d.text(width / 2, 42,
         fmt::format("paired t-test over seeds, alpha = {:g}; each of {} setting(s) weighs 1", m.alpha, m.settings), 12,
         "middle", "normal", 0, "#555");
  const double max = std::max<double>(1.0, static_cast<double>(m.settings));
  auto shade = [&](double v) {  // white -> #D55E00 (vermillion) as v goes 0 -> max
    const double f = std::clamp(v / max, 0.0, 1.0);
    auto mix = [&](int hi) { return static_cast<int>(255 + f * (hi - 255) + 0.5); };
    return fmt::format("#{:02X}{:02X}{:02X}", mix(0xD5), mix(0x5E), mix(0x00));
  };
  for (std::size_t j = 0; j < n; ++j)
    d.text(left + cell * (static_cast<double>(j) + 0.5), top - 10, m.strategies[j], 12, "middle", "bold");
  d.text(left + cell * static_cast<double>(n) / 2, top - 10 - label_h, "column (loses)", 11, "middle", "normal", 0,
         "#555");
  for (std::size_t i = 0; i < n; ++i) {
    const double y = top + cell * static_cast<double>(i);
    d.text(left - 10, y + cell / 2 + 4, m.strategies[i], 12, "end", "bold");
    for (std::size_t j = 0; j < n; ++j) {
      const double x = left + cell * static_cast<double>(j);
      if (i == j) {
        d.rect(x, y, cell, cell, "#eeeeee", "#999999");
        continue;
      }
      const double v = m.at(i, j);
      d.rect(x, y, cell, cell, shade(v), "#999999", 1,
             fmt::format("{} beats {} significantly in {:.2f} of {} setting(s) (weighted by 1/pool sizes)",
                         m.strategies[i], m.strategies[j], v, m.settings));
      d.text(x + cell / 2, y + cell / 2 + 5, fmt::format("{:.2f}", v), 14, "middle", "normal", 0,
             v / max > 0.6 ? "#ffffff" : "#222");
    }
  }
  const double y = top + cell * static_cast<double>(n) + 8;
  d.text(left - 10, y + cell / 2 + 4, "beaten (sum)", 12, "end", "normal", 0, "#555");
  for (std::size_t j = 0; j < n; ++j) {
    const double x = left + cell * static_cast<double>(j);
    d.rect(x, y, cell, cell, "#f7f7f7", "#999999", 1,
           fmt::format("{} lost significantly {:.2f} time(s) in all (column sum)", m.strategies[j], m.beaten(j)));
    d.text(x + cell / 2, y + cell / 2 + 5, fmt::format("{:.2f}", m.beaten(j)), 14, "middle");
  }
  d.text(20, top + cell * static_cast<double>(n) / 2, "row (wins)", 11, "middle", "normal", -90, "#555");
  return d.str();
}

std::string penalty_csv(const PenaltyMatrix& m) {
  std::string csv = csv_row({"row", "column", "wins", "settings", "alpha"});
  for (std::size_t i = 0; i < m.strategies.size(); ++i)
    for (std::size_t j = 0; j < m.strategies.size(); ++j)
      if (i != j)
        csv += csv_row({m.strategies[i], m.strategies[j], num(m.at(i, j)), std::to_string(m.settings), num(m.alpha)});
  return csv;
}

std::string penalty_tests_csv(const PenaltyMatrix& m) {
  std::string csv = csv_row({"dataset", "model", "hp", "labeled", "a", "b", "n", "mean_diff", "t", "p", "winner",
                             "weight"});
  for (const auto& t : m.tests)
    csv += csv_row({t.dataset, t.model, t.hp, std::to_string(t.labeled), t.a, t.b, std::to_string(t.test.n),
                    num(t.test.mean_diff), t.test.valid ? num(t.test.t) : "", t.test.valid ? num(t.test.p) : "",
                    t.winner, num(t.weight)});
  return csv;
}

}  // namespace quarry::report
