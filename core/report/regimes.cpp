#include "core/report/regimes.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>
#include <tuple>

#include <fmt/format.h>

#include "core/report/aubc.hpp"
#include "core/report/format.hpp"
#include "core/report/setting.hpp"
#include "core/util/svg.hpp"
#include "quarry/error.hpp"

namespace quarry::report {

namespace {

std::string value_or(const std::map<std::string, std::string>& v, const std::string& k, const std::string& d) {
  const auto it = v.find(k);
  return it == v.end() ? d : it->second;
}

std::int64_t int_or_zero(const std::string& s) {
  try {
    return std::stoll(s);
  } catch (const std::exception&) {
    return 0;
  }
}

/// fixed, at_initial, every N (by N), at_initial + every N, from ...: the table's row order.
std::tuple<int, std::int64_t, std::string> regime_rank(const std::string& r) {
  auto every = [&](const std::string& prefix) { return int_or_zero(r.substr(prefix.size())); };
  if (r == "fixed") return {0, 0, r};
  if (r == "at_initial") return {1, 0, r};
  if (r.rfind("every ", 0) == 0) return {2, every("every "), r};
  if (r.rfind("at_initial + every ", 0) == 0) return {3, every("at_initial + every "), r};
  return {4, 0, r};
}

/// The setting label less its hpo.* keys (the regime is a column of its own).
std::string without_hpo(const std::string& hp) {
  std::istringstream in(hp);
  std::string out;
  for (std::string tok; in >> tok;)
    if (tok.rfind("hpo.", 0) != 0) out += (out.empty() ? "" : " ") + tok;
  return out;
}

std::vector<std::pair<double, double>> curve_of(const RunData& r) {
  std::vector<std::pair<double, double>> c;
  for (const auto& x : r.cycles) c.emplace_back(static_cast<double>(x.labeled), x.test_accuracy);
  std::sort(c.begin(), c.end());
  return c;
}

std::string gain(const MeanStd& m) {
  return m.n == 0 ? "-" : fmt::format("{:+.2f} ± {:.2f}", 100 * m.mean, 100 * m.std);
}

std::string trials_text(const MeanStd& m) {
  if (m.n == 0) return "-";
  return m.std == 0 ? fmt::format("{:g}", m.mean) : fmt::format("{:.1f} ± {:.1f}", m.mean, m.std);
}

using Key = std::tuple<std::string, std::string, std::string>;  // dataset, model, setting

/// Rows grouped by (dataset, model, setting), in order.
std::vector<std::vector<const RegimeRow*>> groups_of(const std::vector<RegimeRow>& rows) {
  std::vector<std::vector<const RegimeRow*>> out;
  for (const auto& r : rows) {
    if (out.empty() || Key{out.back()[0]->dataset, out.back()[0]->model, out.back()[0]->setting} !=
                           Key{r.dataset, r.model, r.setting})
      out.emplace_back();
    out.back().push_back(&r);
  }
  return out;
}

std::vector<std::string> ordered(const std::vector<const RegimeRow*>& g, bool strategies) {
  std::vector<std::string> v;
  for (const auto* r : g) {
    const auto& x = strategies ? r->strategy : r->regime;
    if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
  }
  if (strategies) std::stable_sort(v.begin(), v.end(), strategy_less);
  return v;
}

const RegimeRow* cell(const std::vector<const RegimeRow*>& g, const std::string& regime, const std::string& strategy) {
  for (const auto* r : g)
    if (r->regime == regime && r->strategy == strategy) return r;
  return nullptr;
}

std::string group_title(const RegimeRow& r) {
  return combo_title(r.dataset, r.model) + (r.setting.empty() ? "" : ", " + r.setting);
}

}  // namespace

std::string regime_of(const std::map<std::string, std::string>& v) {
  if (!v.count("hpo.trials")) return "fixed";  // no [hpo] section
  const bool at = value_or(v, "hpo.at_initial", "false") == "true";
  const auto every = int_or_zero(value_or(v, "hpo.every", "0"));
  const auto from = value_or(v, "hpo.from_run", "");
  std::string r = at ? "at_initial" : !from.empty() ? "from " + from : "";
  if (every > 0) r += (r.empty() ? "" : " + ") + fmt::format("every {}", every);
  return r.empty() ? "fixed" : r;
}

std::int64_t regime_trials(const std::map<std::string, std::string>& v, const std::vector<CycleRecord>& cycles) {
  if (!v.count("hpo.trials")) return 0;
  const auto trials = int_or_zero(value_or(v, "hpo.trials", "0"));
  const auto every = int_or_zero(value_or(v, "hpo.every", "0"));
  std::int64_t searches = value_or(v, "hpo.at_initial", "false") == "true" ? 1 : 0;
  if (every > 0)
    for (const auto& c : cycles) searches += c.cycle > 0 && c.cycle % every == 0 ? 1 : 0;
  return searches * trials;
}

std::vector<RegimeRow> regime_table(const ReportData& data) {
  struct Member {
    const RunData* run;
    std::int64_t trials;
  };
  // (dataset, model, setting, regime) -> strategy -> seed -> run (the one with the most cycles)
  std::map<std::tuple<std::string, std::string, std::string, std::string>,
           std::map<std::string, std::map<std::int64_t, Member>>>
      groups;
  for (const auto& r : data.runs) {
    if (r.run.kind != "al" || r.cycles.empty() || r.run.pipeline.empty()) continue;
    std::map<std::string, std::string> values;
    try {
      values = setting_values(r.run.pipeline);
    } catch (const Error&) {
      continue;  // label_settings has warned already
    }
    if (auto it = values.find("hpo.from_run"); it != values.end()) it->second = seed_free(it->second, r.run.seed);
    auto& slot = groups[{r.run.dataset, r.run.model, without_hpo(r.hp), regime_of(values)}][strategy_of(r.run)];
    auto [it, fresh] = slot.try_emplace(r.run.seed, Member{&r, regime_trials(values, r.cycles)});
    if (!fresh && r.cycles.size() > it->second.run->cycles.size()) it->second = {&r, regime_trials(values, r.cycles)};
  }
  std::vector<RegimeRow> out;
  for (const auto& [key, strategies] : groups) {
    const auto rnd = strategies.find("random");
    if (rnd == strategies.end()) continue;
    for (const auto& [s, seeds] : strategies) {
      if (s == "random") continue;
      RegimeRow row;
      std::tie(row.dataset, row.model, row.setting, row.regime) = key;
      row.strategy = s;
      std::vector<double> final_gain, aubc_gain, trials;
      for (const auto& [seed, m] : seeds) {
        trials.push_back(static_cast<double>(m.trials));
        const auto b = rnd->second.find(seed);
        if (b == rnd->second.end()) continue;
        const auto ca = curve_of(*m.run), cb = curve_of(*b->second.run);
        if (ca.front().first != cb.front().first || ca.back().first != cb.back().first) continue;  // unequal ranges
        trials.push_back(static_cast<double>(b->second.trials));
        final_gain.push_back(ca.back().second - cb.back().second);
        aubc_gain.push_back(aubc(ca) - aubc(cb));
        row.to = static_cast<std::int64_t>(ca.back().first);
      }
      row.pairs = final_gain.size();
      row.final_gain = mean_std(final_gain);
      row.aubc_gain = mean_std(aubc_gain);
      row.trials = mean_std(trials);
      out.push_back(std::move(row));
    }
  }
  if (std::all_of(out.begin(), out.end(), [](const RegimeRow& r) { return r.regime == "fixed"; })) return {};
  std::stable_sort(out.begin(), out.end(), [](const RegimeRow& a, const RegimeRow& b) {
    if (Key{a.dataset, a.model, a.setting} != Key{b.dataset, b.model, b.setting})
      return Key{a.dataset, a.model, a.setting} < Key{b.dataset, b.model, b.setting};
    if (a.regime != b.regime) return regime_rank(a.regime) < regime_rank(b.regime);
    return strategy_less(a.strategy, b.strategy);
  });
  return out;
}

std::string regimes_html(const std::vector<RegimeRow>& rows) {
  if (rows.empty())
    return "<p>No regime with both random and another strategy (HPO regimes: fixed, <code>hpo.at_initial</code>, "
           "<code>hpo.every</code>, <code>hpo.from_run</code>; docs/hpo.md).</p>\n";
  std::string h;
  for (const auto& g : groups_of(rows)) {
    const auto strategies = ordered(g, true);
    h += "<table class=\"aubc\">\n<caption>" + esc(group_title(*g[0])) +
         ": gain over random (pp), AUBC / final accuracy, mean ± std over paired seeds</caption>\n<thead><tr>"
         "<th>regime</th><th>HPO trials / run</th>";
    for (const auto& s : strategies) h += "<th>" + esc(s) + "</th>";
    h += "</tr></thead>\n<tbody>\n";
    for (const auto& regime : ordered(g, false)) {
      const RegimeRow* any = nullptr;
      for (const auto& s : strategies) any = any ? any : cell(g, regime, s);
      h += "<tr><td>" + esc(regime) + "</td><td>" + esc(trials_text(any->trials)) + "</td>";
      for (const auto& s : strategies) {
        const auto* c = cell(g, regime, s);
        h += c ? fmt::format("<td>{} / {} <span class=\"seeds\">(n={})</span></td>", esc(gain(c->aubc_gain)),
                             esc(gain(c->final_gain)), c->pairs)
               : std::string("<td>-</td>");
      }
      h += "</tr>\n";
    }
    h += "</tbody>\n</table>\n";
  }
  return h;
}

std::string regimes_markdown(const std::vector<RegimeRow>& rows) {
  std::string m = "# Gain over random per HPO regime (pp; AUBC / final accuracy, mean ± std over paired seeds)\n";
  for (const auto& g : groups_of(rows)) {
    const auto strategies = ordered(g, true);
    m += "\n## " + group_title(*g[0]) + "\n\n| regime | HPO trials / run |";
    for (const auto& s : strategies) m += " " + s + " |";
    m += "\n|---|---|";
    for (std::size_t i = 0; i < strategies.size(); ++i) m += "---|";
    m += "\n";
    for (const auto& regime : ordered(g, false)) {
      const RegimeRow* any = nullptr;
      for (const auto& s : strategies) any = any ? any : cell(g, regime, s);
      m += "| " + regime + " | " + trials_text(any->trials) + " |";
      for (const auto& s : strategies) {
        const auto* c = cell(g, regime, s);
        m += c ? fmt::format(" {} / {} (n={}) |", gain(c->aubc_gain), gain(c->final_gain), c->pairs) : " - |";
      }
      m += "\n";
    }
  }
  return m;
}

std::string regimes_csv(const std::vector<RegimeRow>& rows) {
  std::string c = csv_row({"dataset", "model", "setting", "regime", "strategy", "hpo_trials_mean", "pairs", "to",
                           "aubc_gain_mean", "aubc_gain_std", "final_gain_mean", "final_gain_std"});
  for (const auto& r : rows)
    c += csv_row({r.dataset, r.model, r.setting, r.regime, r.strategy, num(r.trials.mean), std::to_string(r.pairs),
                  std::to_string(r.to), num(r.aubc_gain.mean), num(r.aubc_gain.std), num(r.final_gain.mean),
                  num(r.final_gain.std)});
  return c;
}

std::vector<RegimeFigure> regimes_svg(const std::vector<RegimeRow>& rows) {
  std::vector<RegimeFigure> out;
  for (const auto& g : groups_of(rows)) {
    const auto strategies = ordered(g, true);
    const auto regimes = ordered(g, false);
    double lo = 0, hi = 0;
    for (const auto* r : g)
      if (r->pairs) lo = std::min(lo, 100 * (r->aubc_gain.mean - r->aubc_gain.std)),
                    hi = std::max(hi, 100 * (r->aubc_gain.mean + r->aubc_gain.std));
    if (hi - lo < 1e-9) hi = lo + 1;
    const auto ticks = svg::nice_ticks(lo, hi, 6);
    lo = std::min(lo, ticks.front());
    hi = std::max(hi, ticks.back());
    const double left = 60, top = 40, plot_h = 240, group_w = std::max(130.0, 36.0 * static_cast<double>(strategies.size()) + 30);
    const double width = left + group_w * static_cast<double>(regimes.size()) + 20, height = top + plot_h + 70;
    svg::Document d(width, height);
    auto y = [&](double v) { return top + plot_h * (hi - v) / (hi - lo); };
    for (double t : ticks) {
      d.line(left, y(t), width - 20, y(t), t == 0 ? "#444" : "#ddd", t == 0 ? 1.5 : 1);
      d.text(left - 6, y(t) + 4, fmt::format("{:g}", t), 11, "end");
    }
    d.text(16, top + plot_h / 2, "AUBC gain over random (pp)", 12, "middle", "normal", -90);
    const double bar_w = (group_w - 30) / static_cast<double>(strategies.size());
    for (std::size_t i = 0; i < regimes.size(); ++i) {
      const double x0 = left + group_w * static_cast<double>(i) + 15;
      // A from_run regime's source is in the table and the bars' hover text; the axis says "from_run".
      std::string label = regimes[i];
      if (label.rfind("from ", 0) == 0) {
        const auto plus = label.find(" + every ");
        label = "from_run" + (plus == std::string::npos ? "" : label.substr(plus));
      }
      d.text(x0 + (group_w - 30) / 2, top + plot_h + 18, label, 11, "middle");
      for (std::size_t k = 0; k < strategies.size(); ++k) {
        const auto* c = cell(g, regimes[i], strategies[k]);
        if (!c || !c->pairs) continue;
        const double m = 100 * c->aubc_gain.mean, s = 100 * c->aubc_gain.std;
        const double x = x0 + bar_w * static_cast<double>(k);
        const auto& colour = svg::palette()[k % svg::palette().size()];
        d.rect(x + 2, std::min(y(m), y(0)), bar_w - 4, std::abs(y(m) - y(0)), colour, "none", 0.9,
               fmt::format("{} under {}: {} pp AUBC, {} pp final (n={}, {} HPO trials/run)", c->strategy, c->regime,
                           gain(c->aubc_gain), gain(c->final_gain), c->pairs, trials_text(c->trials)));
        const double cx = x + bar_w / 2;
        d.line(cx, y(m - s), cx, y(m + s), "#222", 1);
        d.line(cx - 4, y(m - s), cx + 4, y(m - s), "#222", 1);
        d.line(cx - 4, y(m + s), cx + 4, y(m + s), "#222", 1);
      }
    }
    double lx = left;
    for (std::size_t k = 0; k < strategies.size(); ++k) {
      d.rect(lx, height - 26, 12, 12, svg::palette()[k % svg::palette().size()]);
      d.text(lx + 16, height - 16, strategies[k], 12);
      lx += 24 + 8 * static_cast<double>(strategies[k].size());
    }
    d.text(left, 22, "AUBC gain over random per HPO regime (± std over seeds)", 13, "start", "bold");
    out.push_back({g[0]->dataset, g[0]->model, g[0]->setting, d.str()});
  }
  return out;
}

}  // namespace quarry::report
