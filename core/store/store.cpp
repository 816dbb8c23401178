#include "core/store/store.hpp"

#include <chrono>
#include <ctime>
#include <fstream>
#include <thread>

#include <sqlite3.h>

#include "quarry/error.hpp"

namespace quarry {

namespace {

const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS runs(
  id TEXT PRIMARY KEY, study TEXT NOT NULL, kind TEXT NOT NULL, strategy TEXT, seed INTEGER,
  dataset TEXT, model TEXT, status TEXT NOT NULL, pipeline TEXT, source_run TEXT, source_size INTEGER,
  hp_label TEXT, created_at TEXT, updated_at TEXT, message TEXT, strategy_index INTEGER);
CREATE TABLE IF NOT EXISTS cycles(
  run_id TEXT NOT NULL REFERENCES runs(id), cycle INTEGER NOT NULL, labeled INTEGER NOT NULL,
  test_accuracy REAL, test_nll REAL, test_ece REAL, val_accuracy REAL,
  train_seconds REAL, query_seconds REAL, peak_rss_mb REAL,
  diverged INTEGER NOT NULL DEFAULT 0, diverged_epoch INTEGER, final_loss REAL, lr REAL, weight_decay REAL,
  committed_at TEXT, PRIMARY KEY(run_id, cycle));
CREATE TABLE IF NOT EXISTS queried(
  run_id TEXT NOT NULL REFERENCES runs(id), pool_index INTEGER NOT NULL, train_index INTEGER NOT NULL,
  cycle INTEGER NOT NULL,
  PRIMARY KEY(run_id, pool_index));
CREATE TABLE IF NOT EXISTS trials(
  search TEXT NOT NULL, number INTEGER NOT NULL, params TEXT NOT NULL, state TEXT NOT NULL,
  value REAL, val_nll REAL, seconds REAL, stop_epoch INTEGER, rungs TEXT, PRIMARY KEY(search, number));
CREATE TABLE IF NOT EXISTS searches(
  search TEXT PRIMARY KEY, run_id TEXT, pool_size INTEGER, best_params TEXT, best_value REAL,
  test_accuracy REAL, test_nll REAL);
)SQL";

/// A prepared statement with RAII and typed binds.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr) != SQLITE_OK)
      throw Error(std::string("results store: cannot prepare '") + sql + "': " + sqlite3_errmsg(db));
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  bool step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw Error(std::string("results store: ") + sqlite3_errmsg(db_));
  }
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  std::string text(int c) const {
    auto p = sqlite3_column_text(s_, c);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  std::int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  double f64(int c) const { return sqlite3_column_double(s_, c); }
  int columns() const { return sqlite3_column_count(s_); }
  std::string name(int c) const { return sqlite3_column_name(s_, c); }
  bool is_null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

/// BEGIN IMMEDIATE ... COMMIT, rolled back if the scope exits by an exception.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) { run("BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    run("COMMIT");
    done_ = true;
  }

 private:
  void run(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "?";
      sqlite3_free(err);
      throw Error(std::string("results store: ") + sql + " failed: " + msg);
    }
  }
  sqlite3* db_;
  bool done_ = false;
};

RunRecord read_run(const Stmt& s) {
  RunRecord r;
  r.id = s.text(0);
  r.study = s.text(1);
  r.kind = s.text(2);
  r.strategy = s.text(3);
  r.seed = s.i64(4);
  r.dataset = s.text(5);
  r.model = s.text(6);
  r.status = s.text(7);
  r.pipeline = s.text(8);
  r.source_run = s.text(9);
  r.source_size = s.i64(10);
  r.hp_label = s.text(11);
  r.created_at = s.text(12);
  r.updated_at = s.text(13);
  r.message = s.text(14);
  r.strategy_index = s.i64(15);
  return r;
}

const char* kRunColumns =
    "id, study, kind, strategy, seed, dataset, model, status, pipeline, source_run, source_size, hp_label, "
    "created_at, updated_at, message, strategy_index";
/// The same columns read back; a store from before strategy_index was recorded reads -1.
const char* kRunColumnsRead =
    "id, study, kind, strategy, seed, dataset, model, status, pipeline, source_run, source_size, hp_label, "
    "created_at, updated_at, message, COALESCE(strategy_index, -1)";

std::string csv_field(const std::string& v) {
  if (v.find_first_of(",\"\n\r") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Store::Store(const std::filesystem::path& path) : path_(path) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(path.string() + ": cannot open the results store: " + msg);
  }
  try {
    // Many processes may write one store (sweeps): wait for the lock rather than fail.
    sqlite3_busy_timeout(db_, 120000);
    // Switching to WAL while another process opens the same new store can answer SQLITE_BUSY
    // at once (the busy handler is not consulted for that lock): retry for up to a minute.
    for (int attempt = 0;; ++attempt) {
      const int rc = sqlite3_exec(db_, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
      if (rc == SQLITE_OK) break;
      if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || attempt >= 1200)
        throw Error(path.string() + ": cannot set the results store's journal mode: " + sqlite3_errmsg(db_));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    exec("PRAGMA synchronous=NORMAL");
    exec("PRAGMA foreign_keys=ON");
    Transaction tx(db_);
    exec(kSchema);
    // Stores written before runs.strategy_index existed get the column (NULL: unknown).
    bool has_strategy_index = false;
    for (Stmt info(db_, "PRAGMA table_info(runs)"); info.step();) has_strategy_index |= info.text(1) == "strategy_index";
    if (!has_strategy_index) exec("ALTER TABLE runs ADD COLUMN strategy_index INTEGER");
    // Stores written before multi-fidelity search get trials.stop_epoch and trials.rungs (NULL: none).
    bool has_rungs = false;
    for (Stmt info(db_, "PRAGMA table_info(trials)"); info.step();) has_rungs |= info.text(1) == "rungs";
    if (!has_rungs) exec("ALTER TABLE trials ADD COLUMN stop_epoch INTEGER; ALTER TABLE trials ADD COLUMN rungs TEXT");
    tx.commit();
  } catch (...) {
    // The destructor does not run for a constructor that throws: close the connection here.
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

Store::~Store() { sqlite3_close(db_); }

void Store::exec(const std::string& sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    throw Error(path_.string() + ": " + msg);
  }
}

void Store::create_run(const RunRecord& r) {
  Transaction tx(db_);
  Stmt s(db_, std::string("INSERT INTO runs(") + kRunColumns + ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  const auto now = utc_now();
  s.bind(1, r.id).bind(2, r.study).bind(3, r.kind).bind(4, r.strategy).bind(5, r.seed).bind(6, r.dataset);
  s.bind(7, r.model).bind(8, r.status.empty() ? std::string("running") : r.status).bind(9, r.pipeline);
  s.bind(10, r.source_run).bind(11, r.source_size).bind(12, r.hp_label).bind(13, now).bind(14, now).bind(15, r.message);
  s.bind(16, r.strategy_index);
  s.step();
  tx.commit();
}

void Store::set_run_status(const std::string& id, const std::string& status, const std::string& message) {
  Transaction tx(db_);
  Stmt s(db_, "UPDATE runs SET status=?, message=?, updated_at=? WHERE id=?");
  s.bind(1, status).bind(2, message).bind(3, utc_now()).bind(4, id);
  s.step();
  tx.commit();
}

std::optional<RunRecord> Store::find_run(const std::string& key, std::string* why) const {
  Stmt s(db_, std::string("SELECT ") + kRunColumnsRead + " FROM runs WHERE id = ? OR substr(id, 1, ?) = ? ORDER BY id");
  s.bind(1, key).bind(2, static_cast<std::int64_t>(key.size())).bind(3, key);
  std::vector<RunRecord> found;
  while (s.step()) {
    found.push_back(read_run(s));
    if (found.back().id == key) return found.back();
  }
  if (found.size() == 1) return found.front();
  if (why) {
    if (found.empty()) *why = "no run '" + key + "' in " + path_.string() + " (see `quarry runs`)";
    else {
      *why = "'" + key + "' matches " + std::to_string(found.size()) + " runs:";
      for (const auto& r : found) *why += " " + r.id;
    }
  }
  return std::nullopt;
}

std::vector<RunRecord> Store::runs() const {
  Stmt s(db_, std::string("SELECT ") + kRunColumnsRead + " FROM runs ORDER BY created_at, id");
  std::vector<RunRecord> out;
  while (s.step()) out.push_back(read_run(s));
  return out;
}

void Store::add_cycle(const std::string& run_id, const CycleRecord& c, const std::vector<Acquisition>& initial) {
  if (c.queried.size() != c.queried_train.size())
    throw Error("results store: cycle " + std::to_string(c.cycle) + " has pool and train indices of different lengths");
  Transaction tx(db_);
  {
    Stmt s(db_,
           "INSERT INTO cycles(run_id, cycle, labeled, test_accuracy, test_nll, test_ece, val_accuracy, "
           "train_seconds, query_seconds, peak_rss_mb, diverged, diverged_epoch, final_loss, lr, weight_decay, "
           "committed_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    s.bind(1, run_id).bind(2, c.cycle).bind(3, c.labeled).bind(4, c.test_accuracy).bind(5, c.test_nll);
    s.bind(6, c.test_ece).bind(7, c.val_accuracy).bind(8, c.train_seconds).bind(9, c.query_seconds);
    s.bind(10, c.peak_rss_mb).bind(11, static_cast<std::int64_t>(c.diverged)).bind(12, c.diverged_epoch);
    s.bind(13, c.final_loss).bind(14, c.lr).bind(15, c.weight_decay).bind(16, utc_now());
    s.step();
  }
  Stmt q(db_, "INSERT INTO queried(run_id, pool_index, train_index, cycle) VALUES(?,?,?,?)");
  for (const auto& a : initial) {
    q.bind(1, run_id).bind(2, a.pool_index).bind(3, a.train_index).bind(4, a.cycle);
    q.step();
    q.reset();
  }
  for (std::size_t i = 0; i < c.queried.size(); ++i) {
    q.bind(1, run_id).bind(2, c.queried[i]).bind(3, c.queried_train[i]).bind(4, c.cycle + 1);
    q.step();
    q.reset();
  }
  {
    Stmt u(db_, "UPDATE runs SET updated_at=? WHERE id=?");
    u.bind(1, utc_now()).bind(2, run_id);
    u.step();
  }
  tx.commit();
}

std::vector<CycleRecord> Store::cycles(const std::string& run_id) const {
  Stmt s(db_,
         "SELECT cycle, labeled, test_accuracy, test_nll, test_ece, val_accuracy, train_seconds, query_seconds, "
         "peak_rss_mb, diverged, diverged_epoch, final_loss, lr, weight_decay FROM cycles WHERE run_id=? ORDER BY cycle");
  s.bind(1, run_id);
  std::vector<CycleRecord> out;
  while (s.step()) {
    CycleRecord c;
    c.cycle = s.i64(0);
    c.labeled = s.i64(1);
    c.test_accuracy = s.f64(2);
    c.test_nll = s.f64(3);
    c.test_ece = s.f64(4);
    c.val_accuracy = s.f64(5);
    c.train_seconds = s.f64(6);
    c.query_seconds = s.f64(7);
    c.peak_rss_mb = s.f64(8);
    c.diverged = s.i64(9) != 0;
    c.diverged_epoch = s.i64(10);
    c.final_loss = s.f64(11);
    c.lr = s.f64(12);
    c.weight_decay = s.f64(13);
    out.push_back(c);
  }
  for (const auto& a : acquired(run_id))
    for (auto& c : out)
      if (a.cycle > 0 && c.cycle == a.cycle - 1) {
        c.queried.push_back(a.pool_index);
        c.queried_train.push_back(a.train_index);
      }
  return out;
}

std::vector<Acquisition> Store::acquired(const std::string& run_id) const {
  Stmt q(db_, "SELECT pool_index, train_index, cycle FROM queried WHERE run_id=? ORDER BY cycle, rowid");
  q.bind(1, run_id);
  std::vector<Acquisition> out;
  while (q.step()) out.push_back({q.i64(0), q.i64(1), q.i64(2)});
  return out;
}

void Store::add_trial(const TrialRecord& t) {
  Transaction tx(db_);
  Stmt s(db_,
         "INSERT OR REPLACE INTO trials(search, number, params, state, value, val_nll, seconds, stop_epoch, rungs) "
         "VALUES(?,?,?,?,?,?,?,?,?)");
  s.bind(1, t.search).bind(2, t.number).bind(3, t.params_json).bind(4, t.state).bind(5, t.value);
  s.bind(6, t.val_nll).bind(7, t.seconds).bind(8, t.stop_epoch).bind(9, t.rungs);
  s.step();
  tx.commit();
}

std::vector<TrialRecord> Store::trials(const std::string& search) const {
  Stmt s(db_,
         "SELECT search, number, params, state, value, val_nll, seconds, stop_epoch, rungs FROM trials WHERE search=? "
         "ORDER BY number");
  s.bind(1, search);
  std::vector<TrialRecord> out;
  while (s.step())
    out.push_back({s.text(0), s.i64(1), s.text(2), s.text(3), s.f64(4), s.f64(5), s.f64(6), s.i64(7), s.text(8)});
  return out;
}

void Store::add_search_result(const SearchResult& r) {
  Transaction tx(db_);
  Stmt s(db_,
         "INSERT OR REPLACE INTO searches(search, run_id, pool_size, best_params, best_value, test_accuracy, "
         "test_nll) VALUES(?,?,?,?,?,?,?)");
  s.bind(1, r.search).bind(2, r.run_id).bind(3, r.pool_size).bind(4, r.best_params_json).bind(5, r.best_value);
  s.bind(6, r.test_accuracy).bind(7, r.test_nll);
  s.step();
  tx.commit();
}

std::vector<SearchResult> Store::search_results(const std::string& run_id) const {
  Stmt s(db_,
         "SELECT search, run_id, pool_size, best_params, best_value, test_accuracy, test_nll FROM searches "
         "WHERE ? = '' OR run_id = ? ORDER BY run_id, pool_size");
  s.bind(1, run_id).bind(2, run_id);
  std::vector<SearchResult> out;
  while (s.step()) out.push_back({s.text(0), s.text(1), s.i64(2), s.text(3), s.f64(4), s.f64(5), s.f64(6)});
  return out;
}

void Store::export_csv(const std::filesystem::path& dir) const {
  std::filesystem::create_directories(dir);
  for (const char* table : {"runs", "cycles", "queried", "trials", "searches"}) {
    const auto file = dir / (std::string(table) + ".csv");
    const auto tmp = dir / (std::string(table) + ".csv.tmp");
    {
      std::ofstream out(tmp);
      if (!out) throw Error(tmp.string() + ": cannot write");
      Stmt s(db_, std::string("SELECT * FROM ") + table + (std::string(table) == "runs" ? " ORDER BY created_at, id" : ""));
      for (int c = 0; c < s.columns(); ++c) out << (c ? "," : "") << s.name(c);
      out << "\n";
      out.precision(10);
      while (s.step()) {
        for (int c = 0; c < s.columns(); ++c) {
          if (c) out << ",";
          if (!s.is_null(c)) out << csv_field(s.text(c));
        }
        out << "\n";
      }
    }
    std::filesystem::rename(tmp, file);  // readers never see a half-written CSV
  }
}

}  // namespace quarry
