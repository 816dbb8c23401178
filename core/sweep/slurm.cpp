// The Slurm executor: one job-array task per unfinished cell, submitted with sbatch and
// optionally watched with squeue; and the single cell each task runs.
#include "core/sweep/slurm.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "core/host/discovery.hpp"
#include "core/host/plugin_host.hpp"
#include "core/study/study.hpp"
#include "core/util/log.hpp"
#include "core/sweep/internal.hpp"
#include "core/util/log.hpp"
#include "core/util/process.hpp"
#include "quarry/error.hpp"

namespace quarry {

namespace fs = std::filesystem;
using namespace sweep_internal;

namespace {

std::string compress_ranges(const std::vector<std::size_t>& v) {
  std::string out;
  for (std::size_t i = 0; i < v.size();) {
    std::size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    out += (out.empty() ? "" : ",") + std::to_string(v[i]);
    if (j > i) out += "-" + std::to_string(v[j]);
    i = j + 1;
  }
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(s.begin());
  return s;
}

/// Slurm's commands answer in seconds; one that takes this long has lost its controller.
constexpr double kSlurmTimeout = 60;

/// Run sbatch, squeue or scancel: its exit status and its stdout and stderr together.
/// A command that does not finish in kSlurmTimeout seconds is an Error naming it.
ProgramResult slurm_command(const std::vector<std::string>& argv) {
  ProgramResult r = run_program(argv, kSlurmTimeout, /*capture=*/true);
  if (r.timed_out) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    throw Error(fmt::format("`{}` did not finish within {:.0f}s and was killed (is the Slurm controller up? "
                            "`sinfo` should list a partition)",
                            cmd, kSlurmTimeout));
  }
  return r;
}

}  // namespace

std::string slurm_script(const Sweep& sweep, const SlurmOptions& opts, const std::vector<std::size_t>& pending) {
  const std::string exe = opts.quarry_exe.empty() ? self_executable() : opts.quarry_exe;
  const fs::path dir = fs::path(sweep.results) / "slurm";
  const std::string partition = opts.partition.empty() ? sweep.slurm.partition : opts.partition;
  const std::string time = opts.time.empty() ? sweep.slurm.time : opts.time;
  const std::int64_t gpus = opts.gpus >= 0 ? opts.gpus : sweep.slurm.gpus;
  const std::int64_t cpus = opts.cpus_per_task >= 0 ? opts.cpus_per_task : sweep.slurm.cpus_per_task;
  const std::string workdir = opts.workdir.empty() ? fs::current_path().string() : opts.workdir;
  std::string s = "#!/bin/bash\n";
  s += fmt::format("# Quarry sweep '{}': {} of its {} cells, one array task each (task id = cell index).\n"
                   "# Written by `quarry sweep {}`; each task runs one cell with a fixed run id, so a\n"
                   "# finished cell is skipped and an interrupted one resumed.\n",
                   sweep.name, pending.size(), sweep.cells.size(), sweep.file);
  s += "#SBATCH --job-name=quarry-" + sweep.name + "\n";
  s += "#SBATCH --array=" + compress_ranges(pending) + (opts.jobs > 0 ? "%" + std::to_string(opts.jobs) : "") + "\n";
  s += "#SBATCH --output=" + (dir / (sweep.name + "-%A_%a.out")).string() + "\n";
  s += "#SBATCH --error=" + (dir / (sweep.name + "-%A_%a.err")).string() + "\n";
  s += "#SBATCH --chdir=" + workdir + "\n";
  if (!partition.empty()) s += "#SBATCH --partition=" + partition + "\n";
  if (!time.empty()) s += "#SBATCH --time=" + time + "\n";
  if (gpus > 0) s += "#SBATCH --gres=gpu:" + std::to_string(gpus) + "\n";
  if (cpus > 0) s += "#SBATCH --cpus-per-task=" + std::to_string(cpus) + "\n";
  for (const auto& e : sweep.slurm.extra) s += "#SBATCH " + e + "\n";
  s += "\nset -eu\n";
  s += "exec " + shell_quote(exe);
  for (const auto& p : opts.plugin_paths) s += " --plugin-path " + shell_quote(p);
  s += " sweep " + shell_quote(sweep.file) + " --cell \"$SLURM_ARRAY_TASK_ID\"\n";
  return s;
}

SweepSummary run_sweep_slurm(const Sweep& sweep, const SlurmOptions& opts, std::ostream& out) {
  SweepSummary sum;
  sum.total = sweep.cells.size();
  const auto pending = unfinished(cell_statuses(sweep), &sum.skipped);
  if (pending.empty()) {
    out << fmt::format("sweep {}: all {} cells are finished; nothing to submit\n", sweep.name, sum.total)
        << sweep_table(sweep);
    return sum;
  }
  const fs::path dir = fs::path(sweep.results) / "slurm";
  const fs::path script_file = dir / (sweep.name + ".sbatch");
  const std::string script = slurm_script(sweep, opts, pending);
  fs::create_directories(dir);
  {
    std::ofstream f(script_file);
    f << script;
    if (!f) throw Error("cannot write " + script_file.string());
  }
  out << fmt::format("sweep {}: {} cells, {} finished already, {} in the job array; script {}\n", sweep.name,
                     sum.total, sum.skipped, pending.size(), script_file.string());
  if (opts.dry_run) {
    out << script;
    out.flush();
    return sum;
  }
  // With --wait, Ctrl-C (or SIGTERM) cancels the array: the user is watching it in the foreground.
  // Losing the terminal (SIGHUP) does not: the array runs on, as after a submission without --wait.
  std::optional<InterruptGuard> interrupt;
  if (opts.wait) interrupt.emplace();
  const ProgramResult sbatch = slurm_command({"sbatch", "--parsable", script_file.string()});
  const std::string& text = sbatch.output;
  if (sbatch.status != 0)
    throw Error("sbatch failed (exit status " + std::to_string(sbatch.status) + "): " + trim(text) +
                "\n(is Slurm up? `sinfo` should list a partition; for a local test cluster run scripts/slurm-up.sh)");
  // --parsable prints "jobid" or "jobid;cluster" (sbatch may print warnings on lines before it).
  std::string job = trim(text);
  if (auto nl = job.find_last_of('\n'); nl != std::string::npos) job = job.substr(nl + 1);
  job = trim(job.substr(0, job.find(';')));
  if (job.empty() || !std::all_of(job.begin(), job.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    throw Error("sbatch printed no job id: " + trim(text));
  out << fmt::format("submitted job {} ({} tasks); output in {}/{}-{}_<cell>.out\n", job, pending.size(), dir.string(),
                     sweep.name, job);
  out << "job id: " << job << "\n";
  if (!opts.wait) {
    out << fmt::format("follow it with `squeue -j {}`; `quarry sweep {} --status` shows the cells\n", job, sweep.file);
    out.flush();
    return sum;  // submitted; the caller does not judge a sweep still running
  }
  out.flush();
  const double t0 = now_seconds();
  std::size_t last_finished = static_cast<std::size_t>(-1);
  int squeue_errors = 0;
  bool cancelled = false;
  for (;;) {
    for (double slept = 0; slept < opts.poll_seconds && !interrupt_signal(); slept += 0.1)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (interrupt_signal() && !cancelled) {
      cancelled = true;
      const ProgramResult scancel = slurm_command({"scancel", job});
      out << (scancel.status == 0 ? fmt::format("\ninterrupted: cancelled job {}; finished cells are kept, run the "
                                                "sweep again to submit the rest\n", job)
                                  : fmt::format("\ninterrupted, but `scancel {}` failed: {}\n", job, trim(scancel.output)));
      out.flush();
    }
    const ProgramResult squeue = slurm_command({"squeue", "-h", "-j", job, "-o", "%i"});
    const std::string& qtext = squeue.output;
    bool gone = false;
    std::size_t queued = 0;
    if (squeue.status == 0) {
      std::istringstream is(qtext);
      for (std::string l; std::getline(is, l);)
        if (!trim(l).empty()) ++queued;
      gone = queued == 0;
      squeue_errors = 0;
    } else if (qtext.find("Invalid job id") != std::string::npos) {
      gone = true;  // purged from the controller: long done
    } else if (++squeue_errors >= 10) {
      throw Error("squeue keeps failing while waiting for job " + job + ": " + trim(qtext));
    }
    std::size_t fin = 0;
    const auto st = cell_statuses(sweep);
    for (auto i : pending) fin += st[i] == "finished";
    if (fin != last_finished || gone) {
      out << fmt::format("[job {}] {}/{} cells finished, {} task(s) queued or running, {} elapsed\n", job, fin,
                         pending.size(), queued, fmt_seconds(now_seconds() - t0));
      out.flush();
      last_finished = fin;
    }
    if (gone) break;
  }
  // No accounting database is needed: the store says which cells finished.
  export_csv(sweep);
  const auto st = cell_statuses(sweep);
  for (auto i : pending) {
    if (st[i] == "finished") {
      ++sum.finished;
    } else if (cancelled) {
      ++sum.interrupted;
    } else {
      ++sum.failed;
      out << fmt::format("FAILED {} (run status: {}); see {}/{}-{}_{}.err\n", sweep.cells[i].id,
                         st[i].empty() ? "never started" : st[i], dir.string(), sweep.name, job, i);
    }
  }
  out << "\n" << sweep_table(sweep);
  out << fmt::format("\nsweep {}: {} finished, {} failed, {}{} skipped (finished before) of {} cells; job {}\n",
                     sweep.name, sum.finished, sum.failed,
                     cancelled ? fmt::format("{} cancelled, ", sum.interrupted) : std::string(), sum.skipped,
                     sum.total, job);
  out.flush();
  return sum;
}

int run_sweep_cell(const Sweep& sweep, std::size_t index, const std::vector<std::string>& plugin_paths) {
  if (index >= sweep.cells.size())
    throw Error("--cell " + std::to_string(index) + ": sweep " + sweep.name + " has cells 0.." +
                std::to_string(sweep.cells.size() - 1));
  const SweepCell& c = sweep.cells[index];
  RunRequest r;
  r.pipeline = sweep.base;
  r.sets = c.sets;
  r.results = sweep.results;
  r.strategies = {c.strategy};
  r.seeds = {c.seed};
  r.run_id = c.id;
  if (const char* cpus = std::getenv("SLURM_CPUS_PER_TASK"))
    if (std::none_of(c.sets.begin(), c.sets.end(), [](const std::string& s) { return s.rfind("run.threads=", 0) == 0; }))
      r.sets.push_back(std::string("run.threads=") + cpus);
  static SpdLogger log(console_logger());
  PluginHost host(log);
  discover_plugins(host, plugin_paths, r.pipeline);
  run_study(r, host, log);
  return 0;
}

}  // namespace quarry
