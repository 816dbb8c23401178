// AUBC per run and its summary per strategy and setting, with the table as HTML and Markdown.
#include "core/report/aubc.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "core/report/format.hpp"
#include "quarry/error.hpp"

namespace quarry::report {

double aubc(const std::vector<std::pair<double, double>>& curve) {
  if (curve.empty()) throw Error("aubc: a curve needs at least one point");
  for (std::size_t i = 1; i < curve.size(); ++i)
    if (curve[i].first < curve[i - 1].first) throw Error("aubc: the curve's labeled sizes must increase");
  const double range = curve.back().first - curve.front().first;
  if (!(range > 0)) return curve.back().second;
  double area = 0;
  for (std::size_t i = 1; i < curve.size(); ++i)
    area += (curve[i].first - curve[i - 1].first) * (curve[i].second + curve[i - 1].second) / 2;
  return area / range;
}

std::vector<AubcRow> aubc_table(const ReportData& data, std::uint64_t seed) {
  // (dataset, model, hp) -> its al runs with cycles
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<const RunData*>> settings;
  for (const auto& r : data.runs)
    if (r.run.kind == "al" && !r.cycles.empty()) settings[{r.run.dataset, r.run.model, r.hp}].push_back(&r);
  std::vector<std::tuple<std::string, std::string, std::string>> keys;
  for (const auto& [k, runs] : settings) keys.push_back(k);
  std::stable_sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
    if (std::get<0>(a) != std::get<0>(b)) return std::get<0>(a) < std::get<0>(b);
    if (std::get<1>(a) != std::get<1>(b)) return std::get<1>(a) < std::get<1>(b);
    return hp_less(std::get<2>(a), std::get<2>(b));
  });
  std::vector<AubcRow> out;
  for (const auto& key : keys) {
    const auto& runs = settings[key];
    std::int64_t from = runs[0]->cycles.front().labeled, to = from;
    std::set<std::string> strategy_set;
    for (const auto* r : runs) {
      strategy_set.insert(strategy_of(r->run));
      for (const auto& c : r->cycles) from = std::min(from, c.labeled), to = std::max(to, c.labeled);
    }
    for (const auto& s : sorted_unique(strategy_set, strategy_less)) {
      AubcRow row;
      std::tie(row.dataset, row.model, row.hp) = key;
      row.strategy = s;
      row.from = from;
      row.to = to;
      std::vector<double> values;
      for (const auto* r : runs) {
        if (strategy_of(r->run) != s) continue;
        std::vector<std::pair<double, double>> curve;
        for (const auto& c : r->cycles) curve.emplace_back(static_cast<double>(c.labeled), c.test_accuracy);
        std::sort(curve.begin(), curve.end());
        if (curve.front().first != static_cast<double>(from) || curve.back().first != static_cast<double>(to)) {
          ++row.left_out;
          continue;
        }
        row.runs.emplace_back(r, aubc(curve));
        values.push_back(row.runs.back().second);
      }
      row.stat = mean_std(values);
      row.ci = bootstrap_mean_interval(values, 0.95, kBootstrapResamples, seed);
      out.push_back(std::move(row));
    }
  }
  return out;
}

namespace {

/// Rows of one (dataset, model), as a strategies x settings grid of row pointers.
struct Grid {
  std::string dataset, model;
  std::vector<std::string> strategies, hps;
  std::map<std::pair<std::string, std::string>, const AubcRow*> cell;
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> range;  ///< per hp
};

std::vector<Grid> grids(const std::vector<AubcRow>& rows) {
  std::vector<Grid> out;
  for (const auto& r : rows) {
    if (out.empty() || out.back().dataset != r.dataset || out.back().model != r.model)
      out.push_back(Grid{r.dataset, r.model, {}, {}, {}, {}});
    Grid& g = out.back();
    if (std::find(g.strategies.begin(), g.strategies.end(), r.strategy) == g.strategies.end())
      g.strategies.push_back(r.strategy);
    if (std::find(g.hps.begin(), g.hps.end(), r.hp) == g.hps.end()) g.hps.push_back(r.hp);
    g.cell[{r.strategy, r.hp}] = &r;
    g.range[r.hp] = {r.from, r.to};
  }
  for (auto& g : out) std::stable_sort(g.strategies.begin(), g.strategies.end(), strategy_less);
  return out;
}

std::string cell_text(const AubcRow& r) {
  if (r.stat.n == 0) return "-";
  return fmt::format("{} [{}, {}]", pct(r.stat.mean), pct(r.ci.lo), pct(r.ci.hi));
}

const char* kLegend =
    "AUBC: mean test accuracy over the labeled range (area under the learning curve by the trapezoidal rule, "
    "divided by the range), in %; mean over seeds [95% percentile bootstrap interval, 10,000 resamples, seed "
    "20231]. Runs that do not cover the whole range (unfinished) are left out and counted.";

}  // namespace

std::string aubc_html(const std::vector<AubcRow>& rows) {
  std::string out = std::string("<p class=\"legend\">") + kLegend + " The best mean per column is bold.</p>\n";
  if (rows.empty()) out += "<p>No active-learning runs with cycles selected.</p>\n";
  for (const auto& g : grids(rows)) {
    out += "<table class=\"aubc\">\n<caption>" + esc(combo_title(g.dataset, g.model)) +
           ": AUBC (%)</caption>\n<thead><tr><th>strategy</th>";
    for (const auto& h : g.hps)
      out += fmt::format("<th>{}<br><small>labeled {}&ndash;{}</small></th>", esc(h), g.range.at(h).first,
                         g.range.at(h).second);
    out += "</tr></thead>\n<tbody>\n";
    std::map<std::string, double> best;
    for (const auto& [k, r] : g.cell) {
      if (r->stat.n == 0) continue;
      const auto it = best.find(k.second);
      if (it == best.end() || r->stat.mean > it->second) best[k.second] = r->stat.mean;
    }
    for (const auto& s : g.strategies) {
      out += "<tr><th>" + esc(s) + "</th>";
      for (const auto& h : g.hps) {
        const auto it = g.cell.find({s, h});
        if (it == g.cell.end()) {
          out += "<td>-</td>";
          continue;
        }
        const AubcRow& r = *it->second;
        const bool is_best = r.stat.n && r.stat.mean == best[h];
        out += fmt::format("<td class=\"aubc-cell{}\" title=\"n = {} run(s){}\">{}</td>", is_best ? " m-best" : "",
                           r.stat.n, r.left_out ? fmt::format(", {} left out (unfinished)", r.left_out) : "",
                           esc(cell_text(r)));
      }
      out += "</tr>\n";
    }
    out += "</tbody>\n</table>\n";
  }
  return out;
}

std::string aubc_markdown(const std::vector<AubcRow>& rows) {
  std::string out = std::string("# AUBC\n\n") + kLegend + "\n";
  if (rows.empty()) out += "\nNo active-learning runs with cycles selected.\n";
  for (const auto& g : grids(rows)) {
    out += "\n## " + combo_title(g.dataset, g.model) + "\n\n| strategy |";
    for (const auto& h : g.hps)
      out += fmt::format(" {} (labeled {}-{}) |", h, g.range.at(h).first, g.range.at(h).second);
    out += "\n|---|";
    for (std::size_t i = 0; i < g.hps.size(); ++i) out += "---|";
    out += "\n";
    for (const auto& s : g.strategies) {
      out += "| " + s + " |";
      for (const auto& h : g.hps) {
        const auto it = g.cell.find({s, h});
        out += " " + (it == g.cell.end() ? std::string("-") : cell_text(*it->second)) + " |";
      }
      out += "\n";
    }
  }
  return out;
}

}  // namespace quarry::report
