#include "core/report/report.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/util/svg.hpp"
#include "quarry/error.hpp"

namespace quarry::report {

namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------- ordering

/// The study's row order (random, the baseline, first), then any other strategy by name.
bool strategy_less(const std::string& a, const std::string& b) {
  static const std::vector<std::string> study = {"random", "entropy", "coreset", "badge"};
  const auto ia = std::find(study.begin(), study.end(), a) - study.begin();
  const auto ib = std::find(study.begin(), study.end(), b) - study.begin();
  if (ia != ib) return ia < ib;
  return a < b;
}

/// "lr=0.001 wd=0.05" < "lr=0.01 wd=0.0005": key by key, values compared as numbers when both are.
bool hp_less(const std::string& a, const std::string& b) {
  std::istringstream sa(a), sb(b);
  std::string ta, tb;
  while (true) {
    const bool ha = static_cast<bool>(sa >> ta), hb = static_cast<bool>(sb >> tb);
    if (!ha || !hb) return !ha && hb;
    const auto ea = ta.find('='), eb = tb.find('=');
    const std::string ka = ta.substr(0, ea), kb = tb.substr(0, eb);
    if (ka != kb) return ka < kb;
    if (ea != std::string::npos && eb != std::string::npos) {
      char* enda = nullptr;
      char* endb = nullptr;
      const double va = std::strtod(ta.c_str() + ea + 1, &enda), vb = std::strtod(tb.c_str() + eb + 1, &endb);
      if (*enda == '\0' && *endb == '\0' && va != vb) return va < vb;
    }
    if (ta != tb) return ta < tb;
  }
}

template <class Less>
std::vector<std::string> sorted_unique(const std::set<std::string>& s, Less less) {
  std::vector<std::string> v(s.begin(), s.end());
  std::sort(v.begin(), v.end(), less);
  return v;
}

std::string strategy_of(const RunRecord& r) { return r.strategy.empty() ? r.kind : r.strategy; }
std::string or_unknown(const std::string& s) { return s.empty() ? "?" : s; }
std::string combo_title(const std::string& dataset, const std::string& model) {
  return or_unknown(dataset) + " · " + or_unknown(model);
}

std::string slug(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.') ? c : '_';
  return out.empty() ? "_" : out;
}

// ---------------------------------------------------------------- formatting

std::string pct(double v) { return fmt::format("{:.2f}", 100.0 * v); }
std::string pm(const MeanStd& m) { return m.n == 0 ? "-" : pct(m.mean) + " ± " + pct(m.std); }

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}
std::string csv_row(const std::vector<std::string>& fields) {
  std::string row;
  for (std::size_t i = 0; i < fields.size(); ++i) row += (i ? "," : "") + csv_field(fields[i]);
  return row + "\n";
}
std::string num(double v) { return fmt::format("{}", v); }
std::string opt_num(const MeanStd& m, bool std_dev) { return m.n == 0 ? "" : num(std_dev ? m.std : m.mean); }

std::string esc(const std::string& s) { return svg::escape(s); }

void write_file(const fs::path& path, const std::string& content, std::vector<fs::path>& written) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error("quarry report: cannot write " + path.string() + " (is the --out folder writable?)");
  out << content;
  if (!out) throw Error("quarry report: writing " + path.string() + " failed (disk full?)");
  written.push_back(path);
}

}  // namespace

// ---------------------------------------------------------------- loading

const RunData* ReportData::find(const std::string& id) const {
  for (const auto& r : runs)
    if (r.run.id == id) return &r;
  return nullptr;
}

const RunData* ReportData::find_source(const std::string& id) const {
  if (const RunData* r = find(id)) return r;
  for (const auto& r : sources)
    if (r.run.id == id) return &r;
  return nullptr;
}

ReportData load(const std::vector<std::string>& results, const std::vector<std::string>& selectors) {
  ReportData data;
  std::vector<RunData> all;
  std::map<std::string, std::size_t> by_id;
  std::map<std::string, SearchResult> searches;
  for (const auto& folder : results) {
    const fs::path db = fs::path(folder) / "quarry.db";
    if (!fs::exists(db))
      throw Error("quarry report: no results store at " + db.string() +
                  " (pass --results DIR where `quarry run` wrote one; repeat --results to merge stores)");
    Store store(db);
    data.stores.push_back(folder);
    for (auto& run : store.runs()) {
      RunData rd;
      rd.cycles = store.cycles(run.id);
      rd.run = std::move(run);
      rd.store = folder;
      rd.hp = rd.run.hp_label;
      if (rd.hp.empty() && !rd.cycles.empty())
        rd.hp = fmt::format("lr={:g} wd={:g}", rd.cycles.front().lr, rd.cycles.front().weight_decay);
      if (rd.hp.empty()) rd.hp = "default";
      auto it = by_id.find(rd.run.id);
      if (it == by_id.end()) {
        by_id[rd.run.id] = all.size();
        all.push_back(std::move(rd));
      } else {
        RunData& kept = all[it->second];
        data.warnings.push_back(fmt::format("run {} is in both {} and {}; using the copy with more cycles",
                                            rd.run.id, kept.store, rd.store));
        if (rd.cycles.size() > kept.cycles.size()) kept = std::move(rd);
      }
    }
    for (auto& s : store.search_results()) searches.emplace(s.search, std::move(s));
  }

  std::map<std::string, std::string> source_of;  // non-al run -> the al run whose pool it used
  for (const auto& r : all)
    if (r.run.kind != "al") source_of[r.run.id] = r.run.source_run;

  std::set<std::string> chosen;
  if (selectors.empty()) {
    for (const auto& r : all) chosen.insert(r.run.id);
  } else {
    for (const auto& sel : selectors) {
      if (by_id.count(sel)) {
        chosen.insert(sel);
        continue;
      }
      bool study = false;
      for (const auto& r : all)
        if (r.run.study == sel) chosen.insert(r.run.id), study = true;
      if (study) continue;
      std::vector<std::string> prefixed;
      for (const auto& r : all)
        if (r.run.id.rfind(sel, 0) == 0) prefixed.push_back(r.run.id);
      if (prefixed.size() == 1) {
        chosen.insert(prefixed[0]);
      } else if (prefixed.empty()) {
        throw Error("quarry report: '" + sel + "' is no run id, id prefix or study name in " +
                    fmt::format("{}", fmt::join(results, ", ")) + " (list them with `quarry runs --results DIR`)");
      } else {
        const bool more = prefixed.size() > 5;
        prefixed.resize(std::min<std::size_t>(prefixed.size(), 5));
        throw Error("quarry report: '" + sel + "' is the prefix of several runs (" +
                    fmt::format("{}", fmt::join(prefixed, ", ")) + (more ? ", ..." : "") +
                    "); give more of the id, or the study name");
      }
    }
  }
  // The al runs whose pools selected reuse runs used, when not selected themselves: the reuse
  // table compares with their accuracy.
  std::set<std::string> sources;
  for (const auto& r : all)
    if (chosen.count(r.run.id) && r.run.kind == "reuse" && !r.run.source_run.empty() && !chosen.count(r.run.source_run))
      sources.insert(r.run.source_run);
  for (auto& r : all) {
    if (chosen.count(r.run.id)) data.runs.push_back(std::move(r));
    else if (sources.count(r.run.id)) data.sources.push_back(std::move(r));
  }
  std::stable_sort(data.runs.begin(), data.runs.end(), [](const RunData& a, const RunData& b) {
    if (a.run.study != b.run.study) return a.run.study < b.run.study;
    if (a.run.kind != b.run.kind) return a.run.kind < b.run.kind;
    const auto sa = strategy_of(a.run), sb = strategy_of(b.run);
    if (sa != sb) return strategy_less(sa, sb);
    if (a.hp != b.hp) return hp_less(a.hp, b.hp);
    if (a.run.seed != b.run.seed) return a.run.seed < b.run.seed;
    return a.run.id < b.run.id;
  });

  // A search belongs to the al run whose pool it tuned: its run_id, or a tune run's source.
  for (auto& [id, s] : searches) {
    std::string al = s.run_id;
    if (auto it = source_of.find(al); it != source_of.end() && !it->second.empty()) al = it->second;
    const RunData* base = data.find(al);
    if (!base || base->run.kind != "al") continue;
    data.searches.push_back({s, al});
  }
  return data;
}

MeanStd mean_std(const std::vector<double>& values) {
  MeanStd m;
  m.n = values.size();
  if (values.empty()) return m;
  for (double v : values) m.mean += v;
  m.mean /= static_cast<double>(values.size());
  double sq = 0;
  for (double v : values) sq += (v - m.mean) * (v - m.mean);
  m.std = std::sqrt(sq / static_cast<double>(values.size()));
  return m;
}

// ---------------------------------------------------------------- curves

std::vector<Curve> learning_curves(const ReportData& data, const std::string& group) {
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
          auto& p = points[cy.labeled];
          p.labeled = cy.labeled;
          p.values.emplace_back(r, cy.test_accuracy);
        }
      }
      if (!any) continue;
      for (auto& [labeled, p] : points) {
        std::vector<double> v;
        for (const auto& pv : p.values) v.push_back(pv.second);
        p.stat = mean_std(v);
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

std::string curves_svg(const std::vector<Curve>& curves) {
  const double legend_w = 270, left = 72, top = 56, bottom = 64, right_gap = 24;
  const double row_h = 20;
  bool unfinished = false;
  for (const auto& c : curves) unfinished = unfinished || c.unfinished;
  const double legend_rows = static_cast<double>(curves.size()) + (unfinished ? 1.5 : 0);
  const double width = 980, height = std::max(540.0, top + 30 + legend_rows * row_h + bottom);
  const double pw = width - left - legend_w - right_gap, ph = height - top - bottom;

  double xmin = 1e300, xmax = -1e300, ymin = 1e300, ymax = -1e300;
  for (const auto& c : curves)
    for (const auto& p : c.points) {
      xmin = std::min(xmin, static_cast<double>(p.labeled));
      xmax = std::max(xmax, static_cast<double>(p.labeled));
      ymin = std::min(ymin, 100 * (p.stat.mean - p.stat.std));
      ymax = std::max(ymax, 100 * (p.stat.mean + p.stat.std));
    }
  if (xmin > xmax) xmin = 0, xmax = 1, ymin = 0, ymax = 100;
  const Axis ax = make_axis(xmin, xmax, 7);
  const Axis ay = make_axis(std::max(0.0, ymin - 1), std::min(100.0, ymax + 1), 7);
  auto X = [&](double v) { return left + (v - ax.lo) / (ax.hi - ax.lo) * pw; };
  auto Y = [&](double v) { return top + ph - (v - ay.lo) / (ay.hi - ay.lo) * ph; };

  svg::Document d(width, height);
  const std::string title = curves.empty() ? "learning curves" : combo_title(curves[0].dataset, curves[0].model);
  d.text(left + pw / 2, 24, title + ": test accuracy vs labeled images", 16, "middle", "bold");
  d.text(left + pw / 2, 42, "mean ± std over seeds (band: ± 1 std)", 12, "middle", "normal", 0, "#555");
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
  d.text(20, top + ph / 2, "test accuracy (%)", 13, "middle", "normal", -90);

  const auto& pal = svg::palette();
  const auto& dashes = svg::dash_patterns();
  for (const auto& c : curves) {  // bands first, so no band hides a line
    if (c.points.size() < 2) continue;
    std::vector<std::pair<double, double>> band;
    for (const auto& p : c.points) band.emplace_back(X(p.labeled), Y(100 * (p.stat.mean + p.stat.std)));
    for (auto it = c.points.rbegin(); it != c.points.rend(); ++it)
      band.emplace_back(X(it->labeled), Y(100 * (it->stat.mean - it->stat.std)));
    d.polygon(band, pal[c.colour % pal.size()], 0.15);
  }
  for (const auto& c : curves) {
    const std::string& colour = pal[c.colour % pal.size()];
    std::vector<std::pair<double, double>> line;
    for (const auto& p : c.points) line.emplace_back(X(p.labeled), Y(100 * p.stat.mean));
    if (line.size() > 1) d.polyline(line, colour, 2, dashes[c.dash % dashes.size()]);
    if (line.size() <= 25)
      for (const auto& [x, y] : line) d.circle(x, y, 2.6, colour);
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

// ---------------------------------------------------------------- Table 1

const char* mark_name(Mark m) {
  switch (m) {
    case Mark::best: return "best";
    case Mark::second: return "second";
    case Mark::third: return "third";
    case Mark::worst: return "worst";
    default: return "";
  }
}

namespace {
/// Marks for one column of means (n == 0: no value, no mark).
std::vector<Mark> rank_column(const std::vector<MeanStd>& column) {
  // Ranked as shown (percent, two decimals), so means that print the same share a mark.
  auto shown = [](double mean) { return std::round(mean * 1e4); };
  std::vector<double> distinct;
  for (const auto& m : column)
    if (m.n > 0) distinct.push_back(shown(m.mean));
  std::sort(distinct.begin(), distinct.end(), std::greater<>());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  std::vector<Mark> marks(column.size(), Mark::none);
  if (distinct.size() < 2) return marks;  // nothing to rank against
  for (std::size_t i = 0; i < column.size(); ++i) {
    if (column[i].n == 0) continue;
    const auto rank = static_cast<std::size_t>(std::find(distinct.begin(), distinct.end(), shown(column[i].mean)) -
                                               distinct.begin());
    if (rank + 1 == distinct.size()) marks[i] = Mark::worst;
    else if (rank == 0) marks[i] = Mark::best;
    else if (rank == 1) marks[i] = Mark::second;
    else if (rank == 2) marks[i] = Mark::third;
  }
  return marks;
}
}  // namespace

std::vector<Table1> table1(const ReportData& data, const std::vector<std::int64_t>& sizes) {
  std::map<std::pair<std::string, std::string>, std::vector<const RunData*>> combos;
  for (const auto& r : data.runs)
    if (r.run.kind == "al") combos[{r.run.dataset, r.run.model}].push_back(&r);
  std::vector<Table1> out;
  for (const auto& [combo, runs] : combos) {
    std::set<std::string> strategy_set, hp_set;
    std::set<std::int64_t> search_sizes;
    std::int64_t last = -1;
    for (const auto* r : runs) {
      strategy_set.insert(strategy_of(r->run));
      hp_set.insert(r->hp);
      for (const auto& c : r->cycles) last = std::max(last, c.labeled);
    }
    std::vector<const SearchData*> searches;
    for (const auto& s : data.searches) {
      const RunData* base = data.find(s.al_run);
      if (base && base->run.dataset == combo.first && base->run.model == combo.second) {
        searches.push_back(&s);
        search_sizes.insert(s.result.pool_size);
      }
    }
    std::vector<std::int64_t> use = sizes;
    if (use.empty()) use.assign(search_sizes.begin(), search_sizes.end());
    if (use.empty() && last >= 0) use.push_back(last);
    for (auto size : use) {
      Table1 t;
      t.dataset = combo.first;
      t.model = combo.second;
      t.size = size;
      t.strategies = sorted_unique(strategy_set, strategy_less);
      t.hps = sorted_unique(hp_set, hp_less);
      for (const auto& s : t.strategies)
        for (const auto& h : t.hps) {
          Table1Cell cell;
          std::vector<double> dal, bo;
          for (const auto* r : runs) {
            if (strategy_of(r->run) != s || r->hp != h) continue;
            cell.unfinished = cell.unfinished || !r->finished();
            for (const auto& c : r->cycles)
              if (c.labeled == size) {
                dal.push_back(c.test_accuracy);
                break;
              }
            for (const auto* sd : searches)
              if (sd->al_run == r->run.id && sd->result.pool_size == size) bo.push_back(sd->result.test_accuracy);
          }
          cell.dal = mean_std(dal);
          cell.bo = mean_std(bo);
          t.cells.push_back(cell);
        }
      for (std::size_t h = 0; h < t.hps.size(); ++h) {
        std::vector<MeanStd> dal, bo;
        for (std::size_t s = 0; s < t.strategies.size(); ++s) {
          dal.push_back(t.cell(s, h).dal);
          bo.push_back(t.cell(s, h).bo);
        }
        const auto dm = rank_column(dal), bm = rank_column(bo);
        for (std::size_t s = 0; s < t.strategies.size(); ++s) {
          t.cells[s * t.hps.size() + h].dal_mark = dm[s];
          t.cells[s * t.hps.size() + h].bo_mark = bm[s];
        }
      }
      out.push_back(std::move(t));
    }
  }
  return out;
}

namespace {
const char* kMarkLegendMd =
    "Marks per column, ranking strategies separately for DAL and for BO: **bold** = best, <u>underlined</u> = "
    "second, *italic* = third, ▼ = worst. Mean ± population std over seeds, test accuracy in %. "
    "`*` after a cell: some run behind it has not finished.";

std::string md_marked(const MeanStd& m, Mark mark) {
  const std::string v = pm(m);
  switch (mark) {
    case Mark::best: return "**" + v + "**";
    case Mark::second: return "<u>" + v + "</u>";
    case Mark::third: return "*" + v + "*";
    case Mark::worst: return v + " ▼";
    default: return v;
  }
}

std::string size_title(const Table1& t) {
  return fmt::format("{}, {} labels", combo_title(t.dataset, t.model), t.size);
}
}  // namespace

std::string table1_markdown(const std::vector<Table1>& tables) {
  std::string out = "# Table 1: DAL -> BO test accuracy (%)\n\n";
  out += std::string("Each cell: accuracy of the active-learning runs at that pool size with the column's fixed "
                     "setting (DAL) -> accuracy after Bayesian optimisation on the same pool (BO). ") +
         kMarkLegendMd + "\n";
  if (tables.empty()) out += "\nNo active-learning runs selected.\n";
  for (const auto& t : tables) {
    out += "\n## " + size_title(t) + "\n\n| strategy |";
    for (const auto& h : t.hps) out += " " + h + " |";
    out += "\n|---|";
    for (std::size_t i = 0; i < t.hps.size(); ++i) out += "---|";
    out += "\n";
    for (std::size_t s = 0; s < t.strategies.size(); ++s) {
      out += "| " + t.strategies[s] + " |";
      for (std::size_t h = 0; h < t.hps.size(); ++h) {
        const auto& c = t.cell(s, h);
        out += " " + md_marked(c.dal, c.dal_mark) + " -> " + md_marked(c.bo, c.bo_mark) + (c.unfinished ? " `*`" : "") +
               " |";
      }
      out += "\n";
    }
  }
  return out;
}

std::string table1_html(const std::vector<Table1>& tables) {
  std::string out =
      "<p class=\"legend\">Each cell: <b>DAL</b> (the active-learning runs' test accuracy at that pool size with the "
      "column's fixed setting) &rarr; <b>BO</b> (after Bayesian optimisation on the same pool); mean ± population std "
      "over seeds, in %. Marks per column, ranking strategies separately for DAL and for BO: "
      "<span class=\"m-best\">bold = best</span>, <span class=\"m-second\">underlined = second</span>, "
      "<span class=\"m-third\">italic = third</span>, <span class=\"m-worst\">red = worst</span>. "
      "<span class=\"unfinished\">*</span> = some run behind the cell has not finished.</p>\n";
  if (tables.empty()) out += "<p>No active-learning runs selected.</p>\n";
  for (const auto& t : tables) {
    out += "<table class=\"t1\">\n<caption>" + esc(size_title(t)) + "</caption>\n<thead><tr><th>strategy</th>";
    for (const auto& h : t.hps) out += "<th>" + esc(h) + "<br><small>DAL &rarr; BO</small></th>";
    out += "</tr></thead>\n<tbody>\n";
    for (std::size_t s = 0; s < t.strategies.size(); ++s) {
      out += "<tr><th>" + esc(t.strategies[s]) + "</th>";
      for (std::size_t h = 0; h < t.hps.size(); ++h) {
        const auto& c = t.cell(s, h);
        auto span = [](const MeanStd& m, Mark mark, const char* what) {
          return fmt::format("<span class=\"{} m-{}\" title=\"{}: n = {}\">{}</span>", what,
                             mark == Mark::none ? "none" : mark_name(mark), what, m.n, esc(pm(m)));
        };
        out += "<td>" + span(c.dal, c.dal_mark, "dal") + " &rarr; " + span(c.bo, c.bo_mark, "bo") +
               (c.unfinished ? " <span class=\"unfinished\">*</span>" : "") + "</td>";
      }
      out += "</tr>\n";
    }
    out += "</tbody>\n</table>\n";
  }
  return out;
}

// ---------------------------------------------------------------- processes

std::optional<fs::path> find_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) == 0) return fs::path(name);
    return std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const fs::path p = fs::path(dir) / name;
    std::error_code ec;
    if (fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0) return p;
  }
  return std::nullopt;
}

int run_program(const std::vector<std::string>& argv, int timeout_s, const fs::path& stdout_file) {
  if (argv.empty()) return -1;
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ::setpgid(0, 0);  // its own group, so a timeout also ends the helpers it starts (chromium's)
    const int null = ::open("/dev/null", O_RDWR);
    const int out = stdout_file.empty() ? null : ::open(stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (null >= 0) ::dup2(null, STDIN_FILENO), ::dup2(null, STDERR_FILENO);
    if (out >= 0) ::dup2(out, STDOUT_FILENO);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  while (true) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

namespace {

/// SVG (width x height CSS pixels) -> PNG at 1.5x with rsvg-convert, else headless chromium. Returns the renderer used, "" if none worked.
std::string render_png(const fs::path& svg_file, const fs::path& png_file, double width, double height) {
  if (auto rsvg = find_executable("rsvg-convert")) {
    if (run_program({rsvg->string(), "--zoom=1.5", "--background-color=white", "-o", png_file.string(),
                     svg_file.string()},
                    60) == 0 &&
        fs::exists(png_file))
      return "rsvg-convert";
  }
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    auto exe = find_executable(name);
    if (!exe) continue;
    const fs::path profile = png_file.parent_path() / ".chromium-profile";
    const int rc = run_program({exe->string(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                "--force-device-scale-factor=1.5", "--user-data-dir=" + profile.string(),
                                "--screenshot=" + png_file.string(),
                                fmt::format("--window-size={},{}", static_cast<int>(std::ceil(width)),
                                            static_cast<int>(std::ceil(height))),
                                "file://" + fs::absolute(svg_file).string()},
                               120);
    std::error_code ec;
    fs::remove_all(profile, ec);
    if (rc == 0 && fs::exists(png_file)) return "chromium";
  }
  return "";
}

double svg_dimension(const std::string& svg, const char* attr) {
  const auto at = svg.find(std::string(attr) + "=\"");
  return at == std::string::npos ? 800 : std::atof(svg.c_str() + at + std::string(attr).size() + 2);
}

const char* kCss = R"CSS(
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1180px;color:#222;background:#fff;line-height:1.4}
h1{font-size:24px;margin-bottom:4px}h2{font-size:19px;border-bottom:1px solid #ccc;padding-bottom:3px;margin-top:32px}
.meta{color:#555;font-size:13px}
figure svg{max-width:100%;height:auto}figure{margin:12px 0 24px 0}figcaption{font-size:13px;color:#444}
table{border-collapse:collapse;margin:10px 0 22px 0;font-size:13px}
th,td{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}
thead th{background:#f0f0f0}caption{text-align:left;font-weight:bold;padding:4px 0}
table.t1 td{white-space:nowrap;font-variant-numeric:tabular-nums}
.m-best{font-weight:bold}.m-second{text-decoration:underline}.m-third{font-style:italic}.m-worst{color:#c0000a}
.legend{font-size:13px;color:#333;max-width:1000px}
.unfinished{color:#a00;font-weight:bold}
.status{display:inline-block;padding:0 6px;border-radius:3px;font-size:12px}
.status-finished{background:#dff0d8;color:#245a1e}.status-running{background:#fcf3cf;color:#7a5b00}
.status-failed{background:#f8d7da;color:#8a1020}.status-other{background:#e8e8e8;color:#333}
code{background:#f4f4f4;padding:0 3px}
)CSS";

}  // namespace

// ---------------------------------------------------------------- the report

// ---------------------------------------------------------------- pool reuse

std::vector<ReuseRow> reuse_table(const ReportData& data) {
  struct Key {
    std::string dataset, source_model, model, hp;
    std::int64_t size;
    bool operator<(const Key& o) const {
      return std::tie(dataset, source_model, model, size, hp) < std::tie(o.dataset, o.source_model, o.model, o.size, o.hp);
    }
  };
  struct Acc {
    std::vector<double> source, reuse;
    bool unfinished = false;
  };
  std::map<Key, std::map<std::string, Acc>> groups;  // -> strategy -> values
  for (const auto& r : data.runs) {
    if (r.run.kind != "reuse") continue;
    const RunData* src = r.run.source_run.empty() ? nullptr : data.find_source(r.run.source_run);
    const std::int64_t size = r.run.source_size > 0 ? r.run.source_size : (r.cycles.empty() ? 0 : r.cycles.front().labeled);
    Key key{r.run.dataset, src ? src->run.model : "?", r.run.model, r.hp, size};
    const std::string strategy = !r.run.strategy.empty() ? r.run.strategy : src ? strategy_of(src->run) : "?";
    auto& acc = groups[key][strategy];
    if (!r.finished()) acc.unfinished = true;
    if (!r.cycles.empty()) acc.reuse.push_back(r.cycles.front().test_accuracy);
    if (src)
      for (const auto& c : src->cycles)
        if (c.labeled == size) {
          acc.source.push_back(c.test_accuracy);
          break;
        }
  }
  std::vector<ReuseRow> out;
  for (const auto& [key, by_strategy] : groups) {
    std::set<std::string> names;
    for (const auto& [name, acc] : by_strategy) names.insert(name);
    std::optional<double> random_mean;
    if (auto it = by_strategy.find("random"); it != by_strategy.end() && !it->second.reuse.empty())
      random_mean = mean_std(it->second.reuse).mean;
    for (const auto& name : sorted_unique(names, strategy_less)) {
      const auto& acc = by_strategy.at(name);
      ReuseRow row;
      row.dataset = key.dataset;
      row.source_model = key.source_model;
      row.model = key.model;
      row.hp = key.hp;
      row.size = key.size;
      row.strategy = name;
      row.source = mean_std(acc.source);
      row.reuse = mean_std(acc.reuse);
      if (random_mean && row.reuse.n > 0 && name != "random") row.vs_random = row.reuse.mean - *random_mean;
      row.unfinished = acc.unfinished;
      out.push_back(std::move(row));
    }
  }
  return out;
}

namespace {

std::string reuse_title(const ReuseRow& r) {
  return fmt::format("{}: pools collected with {}, trained with {} ({}), {} labels", or_unknown(r.dataset),
                     r.source_model, or_unknown(r.model), r.hp, r.size);
}
bool same_reuse_group(const ReuseRow& a, const ReuseRow& b) {
  return a.dataset == b.dataset && a.source_model == b.source_model && a.model == b.model && a.hp == b.hp &&
         a.size == b.size;
}
std::string signed_pct(const std::optional<double>& d) {
  return d ? fmt::format("{:+.2f}", 100.0 * *d) : std::string("-");
}

}  // namespace

std::string reuse_markdown(const std::vector<ReuseRow>& rows) {
  std::string out =
      "# Pool reuse: test accuracy (%)\n\nEach row: the pools one strategy collected during active learning with the "
      "source model, trained from scratch with another model (`quarry reuse`). *source* = the active-learning runs' "
      "own accuracy at that size; *reuse* = the other model's; *vs random* = reuse minus random's reuse; mean ± "
      "population std over seeds.\n";
  if (rows.empty()) out += "\nNo reuse runs selected.\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i == 0 || !same_reuse_group(rows[i], rows[i - 1]))
      out += "\n## " + reuse_title(rows[i]) + "\n\n| strategy | source | reuse | vs random |\n|---|---|---|---|\n";
    const auto& r = rows[i];
    out += "| " + r.strategy + " | " + pm(r.source) + " | " + pm(r.reuse) + (r.unfinished ? " `*`" : "") + " | " +
           signed_pct(r.vs_random) + " |\n";
  }
  return out;
}

std::string reuse_html(const std::vector<ReuseRow>& rows) {
  std::string out =
      "<p class=\"legend\">The pools each strategy collected during active learning with the source model, trained "
      "from scratch with another model (<code>quarry reuse</code>). <b>source</b>: the active-learning runs' own "
      "test accuracy at that size; <b>reuse</b>: the other model's; <b>vs random</b>: reuse minus random's reuse "
      "(positive: the strategy's pool stays better than random with the new model). Mean ± population std over "
      "seeds, in %. <span class=\"unfinished\">*</span> = some reuse run has not finished.</p>\n";
  if (rows.empty()) return out + "<p>No reuse runs selected.</p>\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i == 0 || !same_reuse_group(rows[i], rows[i - 1])) {
      if (i > 0) out += "</tbody>\n</table>\n";
      out += "<table class=\"t1\">\n<caption>" + esc(reuse_title(rows[i])) +
             "</caption>\n<thead><tr><th>strategy</th><th>source</th><th>reuse</th><th>vs random</th></tr></thead>\n"
             "<tbody>\n";
    }
    const auto& r = rows[i];
    out += "<tr><th>" + esc(r.strategy) + "</th><td>" + esc(pm(r.source)) + "</td><td>" + esc(pm(r.reuse)) +
           (r.unfinished ? " <span class=\"unfinished\">*</span>" : "") + "</td><td>" + esc(signed_pct(r.vs_random)) +
           "</td></tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

ReportResult write_report(const ReportOptions& o) {
  if (o.out.empty()) throw Error("quarry report: give an output folder with --out DIR");
  if (o.results.empty()) throw Error("quarry report: give at least one --results DIR");
  const ReportData data = load(o.results, o.runs);
  ReportResult res;
  res.warnings = data.warnings;
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) throw Error("quarry report: cannot create " + o.out.string() + ": " + ec.message());

  const auto curves = learning_curves(data, o.group);
  const auto tables = table1(data, o.sizes);

  // Figures, one per (dataset, model).
  struct Figure {
    std::string title, svg, svg_file, png_file;
  };
  std::vector<Figure> figures;
  std::vector<fs::path> written;
  for (std::size_t i = 0; i < curves.size();) {
    std::size_t j = i;
    while (j < curves.size() && curves[j].dataset == curves[i].dataset && curves[j].model == curves[i].model) ++j;
    const std::vector<Curve> part(curves.begin() + static_cast<std::ptrdiff_t>(i),
                                  curves.begin() + static_cast<std::ptrdiff_t>(j));
    Figure f;
    f.title = combo_title(part[0].dataset, part[0].model);
    f.svg = curves_svg(part);
    const std::string base = "curves-" + slug(or_unknown(part[0].dataset)) + "-" + slug(or_unknown(part[0].model));
    f.svg_file = base + ".svg";
    write_file(o.out / f.svg_file, f.svg, written);
    if (o.render_png) {
      const std::string r =
          render_png(o.out / f.svg_file, o.out / (base + ".png"), svg_dimension(f.svg, "width"),
                     svg_dimension(f.svg, "height"));
      if (!r.empty()) {
        f.png_file = base + ".png";
        written.push_back(o.out / f.png_file);
        res.png_renderer = r;
      } else {
        res.warnings.push_back("no PNG for " + f.svg_file +
                               ": neither rsvg-convert (Debian: librsvg2-bin) nor chromium rendered it");
      }
    }
    figures.push_back(std::move(f));
    i = j;
  }

  // CSV behind every number.
  std::string csv = csv_row({"group", "labeled", "mean", "std", "n", "values", "dataset", "model", "strategy", "hp",
                             "unfinished"});
  std::string points_csv =
      csv_row({"dataset", "model", "group", "labeled", "run_id", "strategy", "hp", "seed", "test_accuracy"});
  for (const auto& c : curves)
    for (const auto& p : c.points) {
      std::string values;
      for (const auto& [run, v] : p.values) {
        values += (values.empty() ? "" : ";") + fmt::format("s{}={}", run->run.seed, v);
        points_csv += csv_row({c.dataset, c.model, c.group, std::to_string(p.labeled), run->run.id,
                               strategy_of(run->run), run->hp, std::to_string(run->run.seed), num(v)});
      }
      csv += csv_row({c.group, std::to_string(p.labeled), num(p.stat.mean), num(p.stat.std),
                      std::to_string(p.stat.n), values, c.dataset, c.model, c.strategy, c.hp,
                      c.unfinished ? "1" : "0"});
    }
  write_file(o.out / "curves.csv", csv, written);
  write_file(o.out / "curve_points.csv", points_csv, written);

  csv = csv_row({"size", "strategy", "hp", "dal_mean", "dal_std", "bo_mean", "bo_std", "n", "bo_n", "dal_mark",
                 "bo_mark", "unfinished", "dataset", "model"});
  for (const auto& t : tables)
    for (std::size_t s = 0; s < t.strategies.size(); ++s)
      for (std::size_t h = 0; h < t.hps.size(); ++h) {
        const auto& c = t.cell(s, h);
        csv += csv_row({std::to_string(t.size), t.strategies[s], t.hps[h], opt_num(c.dal, false), opt_num(c.dal, true),
                        opt_num(c.bo, false), opt_num(c.bo, true), std::to_string(c.dal.n), std::to_string(c.bo.n),
                        mark_name(c.dal_mark), mark_name(c.bo_mark), c.unfinished ? "1" : "0", t.dataset, t.model});
      }
  write_file(o.out / "table1.csv", csv, written);

  csv = csv_row({"id", "study", "kind", "strategy", "hp", "seed", "dataset", "model", "status", "cycles",
                 "last_labeled", "last_test_accuracy", "source_run", "source_size", "store", "created_at",
                 "updated_at", "message"});
  for (const auto& r : data.runs) {
    const bool has = !r.cycles.empty();
    csv += csv_row({r.run.id, r.run.study, r.run.kind, r.run.strategy, r.hp, std::to_string(r.run.seed),
                    r.run.dataset, r.run.model, r.run.status, std::to_string(r.cycles.size()),
                    has ? std::to_string(r.cycles.back().labeled) : "", has ? num(r.cycles.back().test_accuracy) : "",
                    r.run.source_run, r.run.source_size ? std::to_string(r.run.source_size) : "", r.store,
                    r.run.created_at, r.run.updated_at, r.run.message});
  }
  write_file(o.out / "runs.csv", csv, written);
  csv = csv_row({"search", "run_id", "al_run", "pool_size", "best_params", "best_value", "test_accuracy", "test_nll"});
  for (const auto& s : data.searches)
    csv += csv_row({s.result.search, s.result.run_id, s.al_run, std::to_string(s.result.pool_size),
                    s.result.best_params_json, num(s.result.best_value), num(s.result.test_accuracy),
                    num(s.result.test_nll)});
  write_file(o.out / "searches.csv", csv, written);

  const auto reuse = reuse_table(data);
  csv = csv_row({"dataset", "source_model", "model", "hp", "size", "strategy", "source_mean", "source_std", "source_n",
                 "reuse_mean", "reuse_std", "reuse_n", "vs_random", "unfinished"});
  for (const auto& r : reuse)
    csv += csv_row({r.dataset, r.source_model, r.model, r.hp, std::to_string(r.size), r.strategy,
                    opt_num(r.source, false), opt_num(r.source, true), std::to_string(r.source.n),
                    opt_num(r.reuse, false), opt_num(r.reuse, true), std::to_string(r.reuse.n),
                    r.vs_random ? num(*r.vs_random) : "", r.unfinished ? "1" : "0"});
  write_file(o.out / "reuse.csv", csv, written);
  write_file(o.out / "reuse.md", reuse_markdown(reuse), written);

  const std::string tables_html = table1_html(tables);
  write_file(o.out / "table1.md", table1_markdown(tables), written);
  write_file(o.out / "table1.html",
             std::string("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Table 1</title><style>") +
                 kCss + "</style></head><body>\n<h1>Table 1: DAL &rarr; BO test accuracy (%)</h1>\n" + tables_html +
                 "</body></html>\n",
             written);

  // index.html: everything on one page, nothing fetched from elsewhere.
  std::size_t unfinished = 0;
  for (const auto& r : data.runs) unfinished += r.finished() ? 0 : 1;
  std::string page = std::string("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                                 "<title>Quarry report</title><style>") +
                     kCss + "</style></head><body>\n<h1>Quarry report</h1>\n";
  page += fmt::format("<p class=\"meta\">Generated {} from {} ({} run(s), {} unfinished; {} search result(s)).</p>\n",
                      esc(utc_now()), esc(fmt::format("{}", fmt::join(data.stores, ", "))), data.runs.size(),
                      unfinished, data.searches.size());
  if (unfinished)
    page += "<p class=\"unfinished\">Some runs have not finished: they are included with the cycles they have "
            "(marked * in legends and tables, and in the run list).</p>\n";
  for (const auto& w : res.warnings) page += "<p class=\"unfinished\">" + esc(w) + "</p>\n";
  page += "<h2 id=\"curves\">Learning curves</h2>\n";
  if (figures.empty()) page += "<p>No active-learning runs with cycles selected.</p>\n";
  for (const auto& f : figures) {
    page += "<figure>\n" + f.svg + "<figcaption>" + esc(f.title) +
            ": test accuracy vs labeled images, mean ± std over seeds. Files: <a href=\"" + esc(f.svg_file) +
            "\">SVG</a>" + (f.png_file.empty() ? "" : ", <a href=\"" + esc(f.png_file) + "\">PNG</a>") +
            ", numbers in <a href=\"curves.csv\">curves.csv</a>.</figcaption>\n</figure>\n";
  }
  page += "<h2 id=\"table1\">Table 1: DAL &rarr; BO</h2>\n" + tables_html +
          "<p class=\"meta\">Also as <a href=\"table1.md\">Markdown</a>, <a href=\"table1.html\">HTML</a> and "
          "<a href=\"table1.csv\">CSV</a>.</p>\n";
  if (!reuse.empty())
    page += "<h2 id=\"reuse\">Pool reuse with other models</h2>\n" + reuse_html(reuse) +
            "<p class=\"meta\">Also as <a href=\"reuse.md\">Markdown</a> and <a href=\"reuse.csv\">CSV</a>.</p>\n";
  page += "<h2 id=\"runs\">Runs</h2>\n<table class=\"runs\">\n<thead><tr><th>run</th><th>study</th><th>kind</th>"
          "<th>strategy</th><th>setting</th><th>seed</th><th>dataset · model</th><th>status</th><th>cycles</th>"
          "<th>last labeled</th><th>last test acc. (%)</th></tr></thead>\n<tbody>\n";
  for (const auto& r : data.runs) {
    const std::string& st = r.run.status;
    const std::string cls = st == "finished" || st == "running" || st == "failed" ? st : "other";
    page += "<tr><td><code>" + esc(r.run.id) + "</code></td><td>" + esc(r.run.study) + "</td><td>" + esc(r.run.kind) +
            "</td><td>" + esc(r.run.strategy) + "</td><td>" + esc(r.hp) + "</td><td>" + std::to_string(r.run.seed) +
            "</td><td>" + esc(combo_title(r.run.dataset, r.run.model)) + "</td><td><span class=\"status status-" +
            cls + "\"" + (r.run.message.empty() ? "" : " title=\"" + esc(r.run.message) + "\"") + ">" +
            esc(st.empty() ? "?" : st) + (r.finished() ? "" : " *") + "</span></td><td>" +
            std::to_string(r.cycles.size()) + "</td><td>" +
            (r.cycles.empty() ? "-" : std::to_string(r.cycles.back().labeled)) + "</td><td>" +
            (r.cycles.empty() ? "-" : pct(r.cycles.back().test_accuracy)) + "</td></tr>\n";
  }
  page += "</tbody>\n</table>\n";
  page += "<h2 id=\"data\">Data</h2>\n<ul>\n"
          "<li><a href=\"curves.csv\">curves.csv</a>: per group and pool size, mean, std, n and every seed's value</li>\n"
          "<li><a href=\"curve_points.csv\">curve_points.csv</a>: the same values, one row per run and pool size</li>\n"
          "<li><a href=\"table1.csv\">table1.csv</a>: every Table 1 cell with its marks</li>\n"
          "<li><a href=\"runs.csv\">runs.csv</a>: the runs included, with their status</li>\n"
          "<li><a href=\"searches.csv\">searches.csv</a>: the hyper-parameter searches behind the BO column</li>\n"
          "<li><a href=\"reuse.csv\">reuse.csv</a>: pool reuse with other models, per strategy and size</li>\n"
          "</ul>\n<p class=\"meta\">Accuracies in the CSVs are fractions in [0, 1]; pages and figures show %. "
          "Standard deviations are population ones over seeds.</p>\n</body></html>\n";
  write_file(o.out / "index.html", page, written);

  res.files.push_back(o.out / "index.html");
  for (const auto& p : written)
    if (p.filename() != "index.html") res.files.push_back(p);
  return res;
}

}  // namespace quarry::report
