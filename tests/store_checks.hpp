// Checks a results store must pass whatever happened to the runs writing it:
// SQLite's own integrity check, and no partially recorded cycle. Header-only.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "core/store/store.hpp"

namespace quarry::testing {

/// "ok", or what `PRAGMA integrity_check` found.
inline std::string integrity_check(Store& store) {
  sqlite3_stmt* st = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(store.handle(), "PRAGMA integrity_check", -1, &st, nullptr) != SQLITE_OK)
    return std::string("cannot prepare: ") + sqlite3_errmsg(store.handle());
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (!out.empty()) out += "; ";
    out += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  return out;
}

/// What is wrong with run `id`'s cycles, or "" when each committed cycle is whole: cycles
/// numbered 0, 1, ... without a gap, each one's pool = the previous pool + what it queried,
/// and the labeled pool = the last cycle's pool + what that cycle queried.
inline std::string partial_cycle_problem(const Store& store, const std::string& id, std::int64_t query_size) {
  const auto cycles = store.cycles(id);
  const auto acquired = store.acquired(id);
  if (cycles.empty()) return acquired.empty() ? "" : "labels acquired but no cycle committed";
  for (std::size_t i = 0; i < cycles.size(); ++i) {
    const auto& c = cycles[i];
    const std::string at = "cycle " + std::to_string(c.cycle) + ": ";
    if (c.cycle != static_cast<std::int64_t>(i)) return at + "expected cycle " + std::to_string(i);
    if (c.queried.size() != c.queried_train.size()) return at + "queried and queried_train differ in length";
    const bool last = i + 1 == cycles.size();
    if (!last) {
      if (static_cast<std::int64_t>(c.queried.size()) != query_size)
        return at + std::to_string(c.queried.size()) + " queried indices, expected " + std::to_string(query_size);
      if (cycles[i + 1].labeled != c.labeled + static_cast<std::int64_t>(c.queried.size()))
        return at + "the next cycle's pool is not this pool plus its query";
    }
  }
  const auto& last = cycles.back();
  if (static_cast<std::int64_t>(acquired.size()) != last.labeled + static_cast<std::int64_t>(last.queried.size()))
    return "the store holds " + std::to_string(acquired.size()) + " labels, the cycles account for " +
           std::to_string(last.labeled + static_cast<std::int64_t>(last.queried.size()));
  for (const auto& a : acquired)
    if (a.cycle > last.cycle + 1) return "a label acquired in cycle " + std::to_string(a.cycle) + ", after the last";
  return "";
}

}  // namespace quarry::testing
