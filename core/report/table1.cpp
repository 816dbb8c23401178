// Table 1 (DAL -> BO per strategy and setting) from the selected al runs and searches, its
// ranking marks, and its Markdown and HTML.
#include "core/report/table1.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>

#include "core/report/format.hpp"

namespace quarry::report {

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
/// seed -> DAL (or BO) value of strategy `s` with setting `h` at the table's size.
std::map<std::int64_t, double> by_seed(const Table1& t, const std::vector<const RunData*>& runs,
                                       const std::vector<const SearchData*>& searches, const std::string& s,
                                       const std::string& h, bool bo) {
  std::map<std::int64_t, double> out;
  for (const auto* r : runs) {
    if (strategy_of(r->run) != s || r->hp != h) continue;
    if (!bo) {
      for (const auto& c : r->cycles)
        if (c.labeled == t.size) out[r->run.seed] = c.test_accuracy;
    } else {
      for (const auto* sd : searches)
        if (sd->al_run == r->run.id && sd->result.pool_size == t.size) out[r->run.seed] = sd->result.test_accuracy;
    }
  }
  return out;
}

/// Differences to the random row, and paired tests over seeds.
void compare_with_random(Table1& t, const std::vector<const RunData*>& runs,
                         const std::vector<const SearchData*>& searches) {
  const auto ri = std::find(t.strategies.begin(), t.strategies.end(), "random");
  if (ri == t.strategies.end()) return;
  const auto r = static_cast<std::size_t>(ri - t.strategies.begin());
  for (std::size_t h = 0; h < t.hps.size(); ++h)
    for (bool bo : {false, true}) {
      const auto base = by_seed(t, runs, searches, "random", t.hps[h], bo);
      const MeanStd& base_stat = bo ? t.cell(r, h).bo : t.cell(r, h).dal;
      for (std::size_t s = 0; s < t.strategies.size(); ++s) {
        auto& c = t.cells[s * t.hps.size() + h];
        const MeanStd& stat = bo ? c.bo : c.dal;
        if (s == r || stat.n == 0 || base_stat.n == 0) continue;
        std::vector<double> a, b;
        for (const auto& [seed, v] : by_seed(t, runs, searches, t.strategies[s], t.hps[h], bo))
          if (const auto it = base.find(seed); it != base.end()) a.push_back(v), b.push_back(it->second);
        const TTest test = paired_t_test(a, b);
        const bool sig = t.marks_significance() && test.n >= kMinSeedsForMarks && test.significant(0.05);
        (bo ? c.bo_vs_random : c.dal_vs_random) = stat.mean - base_stat.mean;
        (bo ? c.bo_test : c.dal_test) = test;
        (bo ? c.bo_significant : c.dal_significant) = sig;
      }
    }
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
      std::set<std::int64_t> seeds;
      for (const auto* r : runs) seeds.insert(r->run.seed);
      t.seeds = seeds.size();
      compare_with_random(t, runs, searches);
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
    "(+1.23) = difference to random in the same column, † = significant (paired two-sided t-test over seeds, "
    "p < 0.05). `*` after a cell: some run behind it has not finished.";

std::string vs_random(const std::optional<double>& d, bool significant) {
  if (!d) return "";
  return fmt::format(" ({}{}{})", *d >= 0 ? "+" : "", fmt::format("{:.2f}", 100 * *d), significant ? "†" : "");
}

/// The caption's seed count, and why there are no marks with fewer than kMinSeedsForMarks seeds.
std::string seeds_note(const Table1& t) {
  std::string s = fmt::format("{} seed{}", t.seeds, t.seeds == 1 ? "" : "s");
  if (!t.marks_significance())
    s += fmt::format(": no significance marks; with fewer than {} seeds a paired t-test cannot tell a difference "
                     "from noise",
                     kMinSeedsForMarks);
  return s;
}

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
    out += "\n## " + size_title(t) + "\n\n" + seeds_note(t) + ".\n\n| strategy |";
    for (const auto& h : t.hps) out += " " + h + " |";
    out += "\n|---|";
    for (std::size_t i = 0; i < t.hps.size(); ++i) out += "---|";
    out += "\n";
    for (std::size_t s = 0; s < t.strategies.size(); ++s) {
      out += "| " + t.strategies[s] + " |";
      for (std::size_t h = 0; h < t.hps.size(); ++h) {
        const auto& c = t.cell(s, h);
        out += " " + md_marked(c.dal, c.dal_mark) + vs_random(c.dal_vs_random, c.dal_significant) + " -> " +
               md_marked(c.bo, c.bo_mark) + vs_random(c.bo_vs_random, c.bo_significant) + (c.unfinished ? " `*`" : "") +
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
      "<span class=\"vs\">(+1.23)</span> = difference to random in the same column, <span class=\"sig\">†</span> = "
      "significant (paired two-sided t-test over seeds, p &lt; 0.05; the p-values are in table1.csv). "
      "<span class=\"unfinished\">*</span> = some run behind the cell has not finished.</p>\n";
  if (tables.empty()) out += "<p>No active-learning runs selected.</p>\n";
  for (const auto& t : tables) {
    out += "<table class=\"t1\">\n<caption>" + esc(size_title(t)) + " <small class=\"seeds\">(" + esc(seeds_note(t)) +
           ")</small></caption>\n<thead><tr><th>strategy</th>";
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
        auto vs = [](const std::optional<double>& d, bool sig, const TTest& test) -> std::string {
          if (!d) return "";
          const std::string text = vs_random(d, false);  // " (+1.23)": shown without the space and ")"
          return fmt::format(" <small class=\"vs\" title=\"difference to random; paired t-test over {} seed(s): {}\">{}{}</small>",
                             test.n, test.valid ? fmt::format("p = {:.3g}", test.p) : std::string("no test"),
                             esc(text.substr(1, text.size() - 2)), sig ? "<span class=\"sig\">†</span>)" : ")");
        };
        out += "<td>" + span(c.dal, c.dal_mark, "dal") + vs(c.dal_vs_random, c.dal_significant, c.dal_test) +
               " &rarr; " + span(c.bo, c.bo_mark, "bo") + vs(c.bo_vs_random, c.bo_significant, c.bo_test) +
               (c.unfinished ? " <span class=\"unfinished\">*</span>" : "") + "</td>";
      }
      out += "</tr>\n";
    }
    out += "</tbody>\n</table>\n";
  }
  return out;
}

}  // namespace quarry::report
