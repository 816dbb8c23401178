// What a report is computed from: runs, cycles and searches read from one or more stores
// (load), and the row order and labels every part of the report shares.
#pragma once

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "core/store/store.hpp"

namespace quarry::report {

/// One run with its cycles, and the store it came from.
struct RunData {
  RunRecord run;
  std::string store;  ///< the results folder it was read from
  std::vector<CycleRecord> cycles;
  std::string hp;     ///< its setting: hp_label (or "lr=.. wd=.." from its first cycle), then what varies (setting.hpp)
  bool finished() const { return run.status == "finished"; }
};

/// A search's retraining result attached to the active-learning run whose pool it tuned.
struct SearchData {
  SearchResult result;
  std::string al_run;  ///< the al run the pool came from (search.run_id, or a tune run's source_run)
};

struct ReportData {
  std::vector<std::string> stores;   ///< results folders read
  std::vector<RunData> runs;         ///< the selected runs (all kinds), strategy/study/seed order
  std::vector<SearchData> searches;  ///< searches on the selected runs' pools
  std::vector<RunData> sources;      ///< al runs not selected whose pools selected reuse runs used
  std::vector<std::string> warnings;
  std::vector<std::string> varying;  ///< pipeline keys that differ between compared al runs (setting.hpp)
  const RunData* find(const std::string& id) const;         ///< among `runs`
  const RunData* find_source(const std::string& id) const;  ///< among `runs`, then `sources`
};

/// Read and merge the stores (a run id found in two stores: the copy with more cycles wins),
/// then select runs by id, unique id prefix or study name. Throws quarry::Error with the way out.
ReportData load(const std::vector<std::string>& results, const std::vector<std::string>& selectors);

// ---- order and labels shared by the curves, Table 1, pool reuse and the page

/// The study's row order (random, the baseline, first), then any other strategy by name.
bool strategy_less(const std::string& a, const std::string& b);

/// "lr=0.001 wd=0.05" < "lr=0.01 wd=0.0005": key by key, values compared as numbers when both are.
bool hp_less(const std::string& a, const std::string& b);

template <class Less>
std::vector<std::string> sorted_unique(const std::set<std::string>& s, Less less) {
  std::vector<std::string> v(s.begin(), s.end());
  std::sort(v.begin(), v.end(), less);
  return v;
}

/// The run's strategy, or its kind for runs without one.
std::string strategy_of(const RunRecord& r);
std::string or_unknown(const std::string& s);  ///< "?" for an empty label
std::string combo_title(const std::string& dataset, const std::string& model);

}  // namespace quarry::report
