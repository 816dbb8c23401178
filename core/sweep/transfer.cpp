#include "core/sweep/transfer.hpp"

#include <functional>
#include <map>

#include "quarry/error.hpp"

namespace quarry {

namespace {

const std::string kKey = "hpo.from_run=";

void replace_all(std::string& s, const std::string& what, const std::string& with) {
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + with.size())) s.replace(at, what.size(), with);
}

/// The run id a `hpo.from_run="..."` assignment names (its TOML string, less any @SIZE).
std::string named_run(const std::string& assignment) {
  std::string v = assignment.substr(kKey.size());
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'')) v = v.substr(1, v.size() - 2);
  return v.substr(0, v.rfind('@'));
}

}  // namespace

void link_transfers(Sweep& sw) {
  std::map<std::string, std::size_t> by_id;
  for (const auto& c : sw.cells) by_id[c.id] = c.index;
  for (auto& c : sw.cells) {
    bool own_store = false;
    std::string from;
    for (auto& s : c.sets) {
      if (s.rfind("hpo.from_store=", 0) == 0) own_store = true;
      if (s.rfind(kKey, 0) != 0) continue;
      replace_all(s, "{seed}", std::to_string(c.seed));
      replace_all(s, "{sweep}", sw.name);
      from = named_run(s);
    }
    if (from.empty() || own_store) continue;
    const auto it = by_id.find(from);
    if (it == by_id.end()) continue;  // a run outside the sweep: it must be in the store already
    if (it->second == c.index)
      throw Error(sw.file + ": cell " + c.id + ": key 'hpo.from_run' names the cell itself; name the cell of the "
                  "regime it should take the tuned setting from");
    c.after.push_back(it->second);
  }
  // Cells that wait for each other would never start.
  std::vector<int> mark(sw.cells.size(), 0);  // 0 new, 1 on the path, 2 done
  std::function<void(std::size_t)> visit = [&](std::size_t i) {
    mark[i] = 1;
    for (auto a : sw.cells[i].after) {
      if (mark[a] == 1)
        throw Error(sw.file + ": cells " + sw.cells[i].id + " and " + sw.cells[a].id +
                    " take hpo.from_run from each other; one of them must tune itself");
      if (mark[a] == 0) visit(a);
    }
    mark[i] = 2;
  };
  for (std::size_t i = 0; i < sw.cells.size(); ++i)
    if (mark[i] == 0) visit(i);
}

}  // namespace quarry
