// The local executor: every unfinished cell as a child `quarry run`, a few at a time,
// stopped cleanly on Ctrl-C/SIGTERM.
#include "core/sweep/local.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <ostream>
#include <thread>

#include <fmt/format.h>
#include <torch/cuda.h>

#include "core/store/store.hpp"
#include "core/sweep/internal.hpp"
#include "core/util/log.hpp"
#include "core/util/process.hpp"

namespace quarry {

namespace fs = std::filesystem;
using namespace sweep_internal;

namespace {

std::string last_lines(const fs::path& file, std::size_t n) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::string out;
  for (std::size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) out += "    " + lines[i] + "\n";
  return out;
}

}  // namespace

SweepSummary run_sweep_local(const Sweep& sweep, const LocalOptions& opts, std::ostream& out) {
  SweepSummary sum;
  sum.total = sweep.cells.size();
  const auto statuses = cell_statuses(sweep);
  const auto pending = unfinished(statuses, &sum.skipped);

  const std::int64_t cores = usable_cores();
  std::int64_t gpus = 0;
  const bool wants_cuda = std::any_of(sweep.cells.begin(), sweep.cells.end(),
                                      [](const SweepCell& c) { return c.device != "cpu"; });
  if (wants_cuda && torch::cuda::is_available()) gpus = static_cast<std::int64_t>(torch::cuda::device_count());
  std::int64_t jobs = opts.jobs > 0 ? opts.jobs : (gpus > 0 ? gpus : cores);
  jobs = std::max<std::int64_t>(1, std::min<std::int64_t>(jobs, std::max<std::size_t>(1, pending.size())));
  const std::int64_t threads = std::max<std::int64_t>(1, cores / jobs);
  const std::string exe = opts.quarry_exe.empty() ? self_executable() : opts.quarry_exe;
  const fs::path logs = fs::path(sweep.results) / "sweep-logs";

  out << fmt::format("sweep {}: {} cells, {} finished already, {} to run; {} at once, {} thread(s) each{}\n"
                     "results: {} (`quarry runs --results {}`)\n",
                     sweep.name, sum.total, sum.skipped, pending.size(), jobs, threads,
                     gpus > 0 ? fmt::format(", {} GPU(s): one cell per GPU", gpus) : "",
                     store_file(sweep).string(), sweep.results);
  if (opts.dry_run) {
    for (std::size_t i = 0; i < sweep.cells.size(); ++i) {
      const auto& c = sweep.cells[i];
      std::string after;
      for (auto a : c.after) after += (after.empty() ? ", after " : " and ") + sweep.cells[a].id;
      out << fmt::format("[{}] {} ({}{})\n", i, c.id, statuses[i].empty() ? "to run" : statuses[i], after);
      if (statuses[i] == "finished") continue;
      std::string cmd = shell_quote(exe);
      for (const auto& a : cell_arguments(sweep, c, threads, opts.plugin_paths)) cmd += " " + shell_quote(a);
      out << "    " << cmd << "\n";
    }
    out.flush();
    return sum;
  }
  if (pending.empty()) {
    out << "nothing to run: every cell is finished\n" << sweep_table(sweep);
    return sum;
  }
  fs::create_directories(logs);

  struct Child {
    std::size_t cell;
    double start;
    std::int64_t slot;
  };
  std::map<pid_t, Child> running;
  std::vector<char> slot_used(static_cast<std::size_t>(jobs), 0);
  std::size_t next = 0, done = 0;  // next: cells started
  // A cell whose hpo.from_run names another cell (SweepCell::after) starts once that one has stopped.
  std::vector<char> started(pending.size(), 0), stopped(sweep.cells.size(), 1);
  for (auto i : pending) stopped[i] = 0;
  const auto startable = [&]() -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < pending.size(); ++i) {
      const auto& after = sweep.cells[pending[i]].after;
      if (!started[i] && std::all_of(after.begin(), after.end(), [&](std::size_t a) { return stopped[a] != 0; }))
        return i;
    }
    return std::nullopt;
  };
  const double t0 = now_seconds();
  InterruptGuard guard;
  bool stopping = false;
  while (!running.empty() || (!stopping && next < pending.size())) {
    if (interrupt_signal() && !stopping) {
      stopping = true;
      out << fmt::format("\ninterrupted: stopping {} running cell(s); run the sweep again to resume them\n",
                         running.size());
      out.flush();
      for (const auto& [pid, c] : running) ::kill(pid, SIGTERM);
    }
    while (!stopping && next < pending.size() && static_cast<std::int64_t>(running.size()) < jobs) {
      const auto pick = startable();
      if (!pick) break;  // the rest wait for running cells
      started[*pick] = 1;
      ++next;
      const SweepCell& c = sweep.cells[pending[*pick]];
      std::int64_t slot = 0;
      while (slot_used[static_cast<std::size_t>(slot)]) ++slot;
      slot_used[static_cast<std::size_t>(slot)] = 1;
      const fs::path log = logs / (c.id + ".log");
      SpawnOptions child;
      child.io = ChildIo{log, /*append=*/true, /*stderr_to_output=*/true};
      child.env = {{"OMP_NUM_THREADS", std::to_string(threads)}};
      if (gpus > 0) child.env["CUDA_VISIBLE_DEVICES"] = std::to_string(slot % gpus);
      std::vector<std::string> argv{exe};
      const auto args = cell_arguments(sweep, c, threads, opts.plugin_paths);
      argv.insert(argv.end(), args.begin(), args.end());
      const pid_t pid = spawn_process(argv, child);
      running[pid] = {c.index, now_seconds(), slot};
      out << fmt::format("started  {}{}{} (log {})\n", c.id,
                         statuses[c.index].empty() ? "" : " (resuming a " + statuses[c.index] + " run)",
                         gpus > 0 ? fmt::format(" on GPU {}", slot % gpus) : "", log.string());
      out.flush();
    }
    bool reaped = false;
    for (auto it = running.begin(); it != running.end();) {
      int status = 0;
      const pid_t r = ::waitpid(it->first, &status, WNOHANG);
      if (r == 0) {
        ++it;
        continue;
      }
      reaped = true;
      const SweepCell& c = sweep.cells[it->second.cell];
      stopped[c.index] = 1;
      const double secs = now_seconds() - it->second.start;
      slot_used[static_cast<std::size_t>(it->second.slot)] = 0;
      const int code = r < 0 ? -1 : exit_status(status);
      ++done;
      // The store decides: a child killed after its last commit still finished its run.
      std::string now_status;
      {
        Store store(store_file(sweep));
        if (auto run = store.find_run(c.id); run && run->id == c.id) now_status = run->status;
      }
      const double el = now_seconds() - t0;
      const std::size_t left = pending.size() - done;
      const std::string eta = left == 0 || stopping ? "" : fmt::format(", ETA ~{}", fmt_seconds(el / static_cast<double>(done) * static_cast<double>(left)));
      if (now_status == "finished") {
        ++sum.finished;
        out << fmt::format("[{}/{}] finished {} in {} | {} running, {} waiting | {} elapsed{}\n", done,
                           pending.size(), c.id, fmt_seconds(secs), running.size() - 1, pending.size() - next,
                           fmt_seconds(el), eta);
      } else if (stopping) {
        ++sum.interrupted;
        out << fmt::format("[{}/{}] interrupted {} after {}; it resumes when the sweep runs again\n", done,
                           pending.size(), c.id, fmt_seconds(secs));
      } else {
        ++sum.failed;
        const fs::path log = logs / (c.id + ".log");
        out << fmt::format("[{}/{}] FAILED {} after {} ({}); last lines of {}:\n{}", done, pending.size(), c.id,
                           fmt_seconds(secs),
                           code == 0 ? "exit 0 but the run is " + (now_status.empty() ? std::string("missing") : now_status)
                                     : "exit status " + std::to_string(code),
                           log.string(), last_lines(log, 5));
      }
      out.flush();
      it = running.erase(it);
    }
    if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const std::size_t not_started = pending.size() - next;
  export_csv(sweep);
  out << "\n" << sweep_table(sweep);
  out << fmt::format("\nsweep {}: {} finished, {} failed, {} skipped (finished before){}{} of {} cells; {:.0f}s\n",
                     sweep.name, sum.finished, sum.failed, sum.skipped,
                     sum.interrupted ? fmt::format(", {} interrupted", sum.interrupted) : "",
                     not_started ? fmt::format(", {} not started", not_started) : "", sum.total, now_seconds() - t0);
  if (sum.failed || sum.interrupted || not_started)
    out << "run the sweep again to resume unfinished cells (finished ones are skipped)\n";
  out.flush();
  return sum;
}

}  // namespace quarry
