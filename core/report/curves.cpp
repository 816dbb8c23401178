// Learning curves from the selected al runs, and their SVG figure.
#include "core/report/curves.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "core/util/svg.hpp"
#include "quarry/error.hpp"

namespace quarry::report {

const char* metric_name(CurveMetric m) {
  switch (m) {
    case CurveMetric::query_seconds: return "query_seconds";
    case CurveMetric::peak_rss_mb: return "peak_rss_mb";
    default: return "test_accuracy";
  }
}

namespace {
std::optional<double> metric_value(CurveMetric m, const CycleRecord& c) {
  switch (m) {
    case CurveMetric::query_seconds:
      if (c.queried.empty()) return std::nullopt;
      return c.query_seconds;
    case CurveMetric::peak_rss_mb: return c.peak_rss_mb;
    default: return c.test_accuracy;
  }
}
}  // namespace

std::vector<Curve> learning_curves(const ReportData& data, const std::string& group, CurveMetric metric) {
  if (group != "auto" && group != "strategy" && group != "hp" && group != "strategy+hp")
    throw Error("quarry report: --group must be strategy, hp or strategy+hp (got '" + group + "')");
  // (dataset, model) -> the al runs
  std::map<std::pair<std::string, std::string>, std::vector<const RunData*>> combos;
  for (const auto& r : data.runs)
    if (r.run.kind == "al") combos[{r.run.dataset, r.run.model}].push_back(&r);
  std::vector<Curve> out;
  for (const auto& [combo, runs] : combos) {
    std::set<std::string> strategy_set, hp_set;
    for (const auto* r : runs) strategy_set.insert(strategy_of(r->run)), hp_set.insert(r->hp);
    const auto strategies = sorted_unique(strategy_set, strategy_less);
    const auto hps = sorted_unique(hp_set, hp_less);
    std::string mode = group;
    if (mode == "auto") mode = hps.size() > 1 ? "strategy+hp" : "strategy";
    const bool by_s = mode != "hp", by_h = mode != "strategy";
    auto index_of = [](const std::vector<std::string>& v, const std::string& x) {
      return static_cast<std::size_t>(std::find(v.begin(), v.end(), x) - v.begin());
    };
    // Groups in row order: strategy major, hp minor.
    std::vector<std::pair<std::string, std::string>> keys;
    for (const auto& s : by_s ? strategies : std::vector<std::string>{""})
      for (const auto& h : by_h ? hps : std::vector<std::string>{""}) keys.emplace_back(s, h);
    for (const auto& [s, h] : keys) {
      Curve c;
      c.dataset = combo.first;
      c.model = combo.second;
      c.strategy = s;
      c.hp = h;
      c.metric = metric;
      c.group = by_s && by_h ? s + ", " + h : (by_s ? s : h);
      // strategy+hp: colour says the strategy, dash the setting (one colour per setting when by hp alone).
      c.colour = by_s ? index_of(strategies, s) : index_of(hps, h);
      c.dash = by_s && by_h ? index_of(hps, h) : 0;
      std::map<std::int64_t, CurvePoint> points;
      bool any = false;
      for (const auto* r : runs) {
        if ((by_s && strategy_of(r->run) != s) || (by_h && r->hp != h)) continue;
        any = true;
        c.unfinished = c.unfinished || !r->finished();
        for (const auto& cy : r->cycles) {
          const auto v = metric_value(metric, cy);
          if (!v) continue;
          auto& p = points[cy.labeled];
          p.labeled = cy.labeled;
          p.values.emplace_back(r, *v);
        }
      }
      if (!any || points.empty()) continue;
      for (auto& [labeled, p] : points) {
        std::vector<double> v;
        for (const auto& pv : p.values) v.push_back(pv.second);
        p.stat = mean_std(v);
        p.ci = t_interval(v);
        c.points.push_back(std::move(p));
      }
      out.push_back(std::move(c));
    }
  }
  return out;
}

namespace {
struct Axis {
  double lo, hi;
  std::vector<double> ticks;
};
Axis make_axis(double lo, double hi, int target) {
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  auto ticks = svg::nice_ticks(lo, hi, target);
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : (hi - lo);
  // Widen to whole steps, and tick every step of the widened range (same step, so labels stay round).
  const auto first = static_cast<long long>(std::floor(lo / step + 1e-9));
  const auto last = static_cast<long long>(std::ceil(hi / step - 1e-9));
  Axis a{static_cast<double>(first) * step, static_cast<double>(last) * step, {}};
  for (long long i = first; i <= last; ++i) a.ticks.push_back(static_cast<double>(i) * step);
  return a;
}
std::string tick_label(double v) {
  std::string s = fmt::format("{:.6g}", std::abs(v) < 1e-12 ? 0.0 : v);
  return s;
}
}  // namespace

namespace {
struct MetricText {
  double scale;  ///< shown = value * scale
  const char* title;
  const char* axis;
  const char* unit;
  bool percent;  ///< clamp the axis to [0, 100]
};
MetricText metric_text(CurveMetric m) {
  switch (m) {
    case CurveMetric::query_seconds: return {1, "query time per cycle", "query seconds", " s", false};
    case CurveMetric::peak_rss_mb: return {1, "peak memory per cycle", "peak resident memory (MB)", " MB", false};
    default: return {100, "test accuracy vs labeled images", "test accuracy (%)", " %", true};
  }
}
std::string shown(double v) { return fmt::format("{:.4g}", v); }
}  // namespace

std::string curves_svg(const std::vector<Curve>& curves, const std::string& band) {
  if (band != "std" && band != "ci")
    throw Error("quarry report: --band must be std or ci (got '" + band + "')");
  const bool ci = band == "ci";
  const MetricText mt = metric_text(curves.empty() ? CurveMetric::test_accuracy : curves[0].metric);
  auto lo_of = [&](const CurvePoint& p) { return mt.scale * (ci ? p.ci.lo : p.stat.mean - p.stat.std); };
  auto hi_of = [&](const CurvePoint& p) { return mt.scale * (ci ? p.ci.hi : p.stat.mean + p.stat.std); };
  // The legend grows with its longest label (about 7 px per character at 12 px), the plot keeps its width.
  std::size_t longest = 0;
  for (const auto& c : curves) longest = std::max(longest, c.group.size() + (c.unfinished ? 2 : 0));
  const double legend_w = std::max(270.0, 46 + 7.0 * static_cast<double>(longest));
  const double left = 72, top = 56, bottom = 64, right_gap = 24;
  const double row_h = 20;
  bool unfinished = false;
  for (const auto& c : curves) unfinished = unfinished || c.unfinished;
  const double legend_rows = static_cast<double>(curves.size()) + (unfinished ? 1.5 : 0);
  const double width = 710 + legend_w, height = std::max(540.0, top + 30 + legend_rows * row_h + bottom);
  const double pw = width - left - legend_w - right_gap, ph = height - top - bottom;

  double xmin = 1e300, xmax = -1e300, ymin = 1e300, ymax = -1e300;
  for (const auto& c : curves)
    for (const auto& p : c.points) {
      xmin = std::min(xmin, static_cast<double>(p.labeled));
      xmax = std::max(xmax, static_cast<double>(p.labeled));
      ymin = std::min(ymin, lo_of(p));
      ymax = std::max(ymax, hi_of(p));
    }
  if (xmin > xmax) xmin = 0, xmax = 1, ymin = 0, ymax = mt.percent ? 100 : 1;
  const Axis ax = make_axis(xmin, xmax, 7);
  const double pad = mt.percent ? 1 : 0.05 * std::max(ymax - ymin, 1e-9);
  const Axis ay = make_axis(std::max(0.0, ymin - pad), mt.percent ? std::min(100.0, ymax + pad) : ymax + pad, 7);
  auto X = [&](double v) { return left + (v - ax.lo) / (ax.hi - ax.lo) * pw; };
  auto Y = [&](double v) { return top + ph - (v - ay.lo) / (ay.hi - ay.lo) * ph; };

  svg::Document d(width, height);
  const std::string title = curves.empty() ? "learning curves" : combo_title(curves[0].dataset, curves[0].model);
  d.text(left + pw / 2, 24, title + ": " + mt.title, 16, "middle", "bold");
  d.text(left + pw / 2, 42,
         ci ? "mean over seeds (band: 95% t interval of the mean)" : "mean ± std over seeds (band: ± 1 std)", 12,
         "middle", "normal", 0, "#555");
  d.rect(left, top, pw, ph, "#ffffff", "#444444");
  for (double t : ay.ticks) {
    d.line(left, Y(t), left + pw, Y(t), "#e4e4e4", 1);
    d.line(left - 5, Y(t), left, Y(t), "#444444", 1);
    d.text(left - 8, Y(t) + 4, tick_label(t), 11, "end");
  }
  for (double t : ax.ticks) {
    d.line(X(t), top, X(t), top + ph, "#f0f0f0", 1);
    d.line(X(t), top + ph, X(t), top + ph + 5, "#444444", 1);
    d.text(X(t), top + ph + 19, tick_label(t), 11, "middle");
  }
  d.rect(left, top, pw, ph, "none", "#444444");
  d.text(left + pw / 2, height - 18, "labeled images", 13, "middle");
  d.text(20, top + ph / 2, mt.axis, 13, "middle", "normal", -90);

  const auto& pal = svg::palette();
  const auto& dashes = svg::dash_patterns();
  for (const auto& c : curves) {  // bands first, so no band hides a line
    if (c.points.size() < 2) continue;
    std::vector<std::pair<double, double>> poly;
    for (const auto& p : c.points) poly.emplace_back(X(p.labeled), Y(hi_of(p)));
    for (auto it = c.points.rbegin(); it != c.points.rend(); ++it) poly.emplace_back(X(it->labeled), Y(lo_of(*it)));
    d.polygon(poly, pal[c.colour % pal.size()], 0.15);
  }
  for (const auto& c : curves) {
    const std::string& colour = pal[c.colour % pal.size()];
    std::vector<std::pair<double, double>> line;
    for (const auto& p : c.points) line.emplace_back(X(p.labeled), Y(mt.scale * p.stat.mean));
    if (line.size() > 1) d.polyline(line, colour, 2, dashes[c.dash % dashes.size()]);
    for (std::size_t i = 0; i < c.points.size(); ++i) {  // each point tells its numbers on hover
      const auto& p = c.points[i];
      d.circle(line[i].first, line[i].second, c.points.size() <= 25 ? 2.6 : 1.6, colour,
               fmt::format("{}: {} labeled, {}{} (mean of {} seed(s); std {}{}; 95% CI {} to {})", c.group, p.labeled,
                           shown(mt.scale * p.stat.mean), mt.unit, p.stat.n, shown(mt.scale * p.stat.std), mt.unit,
                           shown(mt.scale * p.ci.lo), shown(mt.scale * p.ci.hi)));
    }
  }
  const double lx = left + pw + right_gap;
  double ly = top + 8;
  d.text(lx, ly, "legend", 12, "start", "bold");
  ly += row_h;
  for (const auto& c : curves) {
    const std::string& colour = pal[c.colour % pal.size()];
    d.rect(lx, ly - 10, 30, 12, colour, "none", 0.15);
    d.line(lx, ly - 4, lx + 30, ly - 4, colour, 2.5, dashes[c.dash % dashes.size()]);
    d.text(lx + 38, ly, c.group + (c.unfinished ? " *" : ""), 12);
    ly += row_h;
  }
  if (unfinished) d.text(lx, ly + 6, "* includes unfinished runs", 11, "start", "normal", 0, "#a00");
  return d.str();
}

}  // namespace quarry::report
