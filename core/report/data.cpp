// Loading a report's data: reading and merging stores, selecting runs, attaching searches;
// and the shared row order and labels.
#include "core/report/data.hpp"

#include <cstdlib>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/report/setting.hpp"
#include "quarry/error.hpp"

namespace quarry::report {

namespace fs = std::filesystem;

bool strategy_less(const std::string& a, const std::string& b) {
  static const std::vector<std::string> study = {"random", "entropy", "coreset", "badge"};
  const auto ia = std::find(study.begin(), study.end(), a) - study.begin();
  const auto ib = std::find(study.begin(), study.end(), b) - study.begin();
  if (ia != ib) return ia < ib;
  return a < b;
}

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

std::string strategy_of(const RunRecord& r) { return r.strategy.empty() ? r.kind : r.strategy; }
std::string or_unknown(const std::string& s) { return s.empty() ? "?" : s; }
std::string combo_title(const std::string& dataset, const std::string& model) {
  return or_unknown(dataset) + " · " + or_unknown(model);
}

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
  data.varying = label_settings(data.runs, data.warnings);
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

}  // namespace quarry::report
