// The pool reuse rows from the selected reuse runs and their source al runs, and their
// Markdown and HTML.
#include "core/report/reuse_table.hpp"

#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "core/report/format.hpp"

namespace quarry::report {

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

}  // namespace quarry::report
