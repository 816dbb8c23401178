// Where a sweep stands: each cell's run status and a table of every cell, from the store.
#include "core/sweep/status.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "core/store/store.hpp"
#include "core/sweep/internal.hpp"

namespace quarry {

namespace fs = std::filesystem;
using sweep_internal::store_file;

std::vector<std::string> cell_statuses(const Sweep& sweep) {
  std::vector<std::string> out(sweep.cells.size());
  if (!fs::exists(store_file(sweep))) return out;
  Store store(store_file(sweep));
  std::map<std::string, std::string> status;
  for (const auto& r : store.runs()) status[r.id] = r.status;
  for (std::size_t i = 0; i < sweep.cells.size(); ++i)
    if (auto it = status.find(sweep.cells[i].id); it != status.end()) out[i] = it->second;
  return out;
}

std::string sweep_table(const Sweep& sweep) {
  std::unique_ptr<Store> store;
  if (fs::exists(store_file(sweep))) store = std::make_unique<Store>(store_file(sweep));
  std::size_t w = 4;
  for (const auto& c : sweep.cells) w = std::max(w, c.id.size());
  std::string out = fmt::format("{:<{}} {:<9} {:>7} {:>7}\n", "CELL", w, "STATUS", "LABELS", "TEST%");
  for (const auto& c : sweep.cells) {
    std::string status = "-", labels = "-", acc = "-";
    if (store)
      if (auto r = store->find_run(c.id); r && r->id == c.id) {
        status = r->status;
        const auto cycles = store->cycles(c.id);
        if (!cycles.empty()) {
          labels = std::to_string(cycles.back().labeled);
          acc = fmt::format("{:.2f}", 100.0 * cycles.back().test_accuracy);
        }
      }
    out += fmt::format("{:<{}} {:<9} {:>7} {:>7}\n", c.id, w, status, labels, acc);
  }
  return out;
}

}  // namespace quarry
