// The results store: SQLite in WAL mode.
//
// One store (quarry.db) can hold many runs, written by many processes at once:
// every write is one IMMEDIATE transaction with a busy timeout, and a cycle
// (its metrics and the indices it queried) is committed in one transaction, so
// no partially written cycle is ever visible.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace quarry {

struct RunRecord {
  std::string id;
  std::string study;     ///< pipeline name
  std::string kind;      ///< al | reuse | tune
  std::string strategy;  ///< strategy name (al runs)
  std::int64_t seed = 0;
  std::string dataset, model;
  std::string status;    ///< running | finished | failed
  std::string pipeline;  ///< resolved TOML
  std::string source_run;  ///< for reuse/tune: the run whose pool is used
  std::int64_t source_size = 0;
  std::string hp_label;  ///< e.g. "lr=0.01 wd=0.0005"
  std::string created_at, updated_at;
  std::string message;   ///< error message for failed runs
  std::int64_t strategy_index = -1;  ///< al runs: position in the pipeline's [[strategies]] (-1: not recorded)
};

struct CycleRecord {
  std::int64_t cycle = 0;
  std::int64_t labeled = 0;
  double test_accuracy = 0, test_nll = 0, test_ece = 0, val_accuracy = -1;
  double train_seconds = 0, query_seconds = 0;
  double peak_rss_mb = 0;
  bool diverged = false;
  std::int64_t diverged_epoch = -1;
  double final_loss = 0;
  double lr = 0, weight_decay = 0;  ///< the setting this cycle trained with
  std::vector<std::int64_t> queried;        ///< pool indices acquired by the query after this cycle
  std::vector<std::int64_t> queried_train;  ///< the same images as indices into the dataset's train split
};

/// One labeled image: where it is in the pool and in the dataset's train split, and when it came.
struct Acquisition {
  std::int64_t pool_index = 0;
  std::int64_t train_index = 0;
  std::int64_t cycle = 0;  ///< first cycle whose training includes it (0 = initial pool)
};

struct TrialRecord {
  std::string search;  ///< search id (run id + "/" + size or "tune")
  std::int64_t number = 0;
  std::string params_json;  ///< {"lr": 0.01, ...}
  std::string state;        ///< complete | failed | running | pruned
  double value = 0;         ///< mean validation accuracy (pruned: at its last rung)
  double val_nll = 0;
  double seconds = 0;
  std::int64_t stop_epoch = 0;  ///< pruned: the epochs of the rung it stopped at (0: not pruned)
  std::string rungs;  ///< multi-fidelity: [[epochs, mean validation accuracy], ...] as JSON ("" without a pruner)
};

struct SearchResult {
  std::string search;
  std::string run_id;
  std::int64_t pool_size = 0;
  std::string best_params_json;
  double best_value = 0;
  double test_accuracy = 0, test_nll = 0;
};

class Store {
 public:
  /// Open (creating) `path`. Creates the schema if needed.
  explicit Store(const std::filesystem::path& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::filesystem::path& path() const { return path_; }

  void create_run(const RunRecord& run);
  void set_run_status(const std::string& id, const std::string& status, const std::string& message = "");
  /// A run by id or by a unique id prefix; nullopt when none or ambiguous (`why` says which).
  std::optional<RunRecord> find_run(const std::string& id_or_prefix, std::string* why = nullptr) const;
  std::vector<RunRecord> runs() const;

  /// Commit a cycle and the indices queried after it, atomically. `initial` (cycle 0 only)
  /// records the initial pool. Rewriting an existing cycle is an error.
  void add_cycle(const std::string& run_id, const CycleRecord& cycle, const std::vector<Acquisition>& initial = {});
  std::vector<CycleRecord> cycles(const std::string& run_id) const;
  /// The labeled pool in acquisition order.
  std::vector<Acquisition> acquired(const std::string& run_id) const;

  void add_trial(const TrialRecord& trial);
  std::vector<TrialRecord> trials(const std::string& search) const;
  void add_search_result(const SearchResult& result);
  std::vector<SearchResult> search_results(const std::string& run_id = "") const;

  /// Write runs.csv, cycles.csv, queried.csv, trials.csv, searches.csv into `dir`.
  void export_csv(const std::filesystem::path& dir) const;

  sqlite3* handle() { return db_; }

 private:
  void exec(const std::string& sql) const;
  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
};

/// "2026-11-27T16:38:00Z"
std::string utc_now();

}  // namespace quarry
