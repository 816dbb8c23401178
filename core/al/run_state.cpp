#include "core/al/run_state.hpp"

#include <numeric>
#include <random>

#include <torch/torch.h>

#include "core/al/pool_file.hpp"
#include "core/data/seeds.hpp"
#include "core/training/experiment.hpp"
#include "quarry/error.hpp"

namespace quarry {

namespace fs = std::filesystem;

void RunState::label(const std::vector<std::int64_t>& picked) {
  for (auto i : picked) {
    is_labeled[static_cast<std::size_t>(i)] = 1;
    labeled.push_back(i);
  }
}

std::vector<std::int64_t> initial_pool(const Pipeline& p, const Experiment& e, std::int64_t seed) {
  const auto n_pool = e.data.pool.size();
  if (!p.al.initial_pool.empty())
    return pool_indices_for(read_pool_file(p.al.initial_pool), e.split, p.al.initial_pool);
  std::vector<std::int64_t> all(n_pool);
  std::iota(all.begin(), all.end(), 0);
  std::mt19937_64 rng(mix_seed(static_cast<std::uint64_t>(seed), kSeedInitial));
  if (!p.al.class_balanced) return sample_without_replacement(all, p.al.initial, rng);
  // Class-balanced: a random order, then round-robin over classes.
  auto order = sample_without_replacement(all, n_pool, rng);
  const auto* labels = e.data.pool_labels_cpu.data_ptr<std::int64_t>();
  std::vector<std::vector<std::int64_t>> by_class(static_cast<std::size_t>(e.data.num_classes));
  for (auto i : order) by_class[static_cast<std::size_t>(labels[i])].push_back(i);
  std::vector<std::int64_t> out;
  for (std::size_t r = 0; static_cast<std::int64_t>(out.size()) < p.al.initial; ++r)
    for (auto& c : by_class)
      if (r < c.size() && static_cast<std::int64_t>(out.size()) < p.al.initial) out.push_back(c[r]);
  return out;
}

namespace {
std::vector<char> labeled_mask(const std::vector<std::int64_t>& labeled, std::int64_t n_pool) {
  std::vector<char> m(static_cast<std::size_t>(n_pool), 0);
  for (auto i : labeled) m[static_cast<std::size_t>(i)] = 1;
  return m;
}
}  // namespace

RunState initial_state(const Pipeline& p, const Experiment& e, std::int64_t seed) {
  RunState s;
  s.labeled = initial_pool(p, e, seed);
  for (auto i : s.labeled) s.initial_record.push_back({i, e.split.pool[static_cast<std::size_t>(i)], 0});
  s.is_labeled = labeled_mask(s.labeled, e.data.pool.size());
  s.train = p.train;
  return s;
}

RunState resumed_state(const Pipeline& p, Experiment& e, const Store& store, const std::string& run_id,
                       const fs::path& run_dir) {
  RunState s;
  s.train = p.train;
  s.cycles = store.cycles(run_id);
  if (s.cycles.empty()) return s;  // nothing committed yet: the caller draws the initial pool
  for (const auto& a : store.acquired(run_id)) s.labeled.push_back(a.pool_index);
  s.is_labeled = labeled_mask(s.labeled, e.data.pool.size());
  const auto& last = s.cycles.back();
  s.next_cycle = last.cycle + 1;
  s.train.lr = last.lr;
  s.train.weight_decay = last.weight_decay;
  // The last cycle queried nothing: the run had reached its budget.
  s.finished = static_cast<std::int64_t>(s.labeled.size()) == last.labeled;
  if (!s.finished && p.train.init == "continue") {
    const auto file = checkpoint_file(run_dir, last.cycle);
    if (!fs::exists(file))
      throw Error("run " + run_id + ": train.init = \"continue\" but its checkpoint " + file.string() +
                  " is missing; the run cannot continue from cycle " + std::to_string(last.cycle));
    torch::serialize::InputArchive archive;
    archive.load_from(file.string(), e.device);
    e.model->load(archive);
  }
  return s;
}

fs::path checkpoint_file(const fs::path& run_dir, std::int64_t cycle) {
  return run_dir / ("checkpoint-" + std::to_string(cycle) + ".pt");
}

void remove_checkpoints_except(const fs::path& run_dir, std::int64_t keep) {
  const auto kept = checkpoint_file(run_dir, keep).filename().string();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(run_dir, ec)) {
    const auto name = entry.path().filename().string();
    if (name != kept && name.rfind("checkpoint-", 0) == 0 && entry.path().extension() == ".pt")
      fs::remove(entry.path(), ec);
  }
}

void save_checkpoint(torch::nn::Module& model, const fs::path& file) {
  torch::serialize::OutputArchive archive;
  model.save(archive);
  const auto tmp = file.string() + ".tmp";
  archive.save_to(tmp);
  fs::rename(tmp, file);  // a crash never leaves a half-written checkpoint under the real name
}

}  // namespace quarry
