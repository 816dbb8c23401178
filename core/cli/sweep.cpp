// quarry sweep: a grid of runs over one base pipeline, locally or as a Slurm job array.
#include <iostream>

#include <toml++/toml.h>

#include "core/cli/cli.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/util/files.hpp"
#include "core/util/log.hpp"
#include "core/host/plugin_host.hpp"
#include "core/sweep/sweep.hpp"
#include "quarry/error.hpp"

namespace {
using quarry::cli::GlobalOptions;

/// [run].plugin_paths of the sweep's base pipeline, so its plugins are known before validation.
std::vector<std::string> base_plugin_paths(const std::string& sweep_file) {
  try {
    // parse_toml: the character check toml++ needs before it sees a file.
    auto root = quarry::parse_toml(quarry::read_text_file(sweep_file, "sweep file"), sweep_file);
    if (auto base = root["sweep"]["base"].value<std::string>()) {
      const auto dir = std::filesystem::absolute(sweep_file).parent_path();
      return quarry::peek_plugin_paths((dir / *base).string());
    }
  } catch (...) {
    // load_sweep reports the problem with its location.
  }
  return {};
}

QUARRY_COMMAND(15) {
  struct Opts {
    std::string file, executor = "local", partition, time;
    std::int64_t jobs = 0, gpus = -1, cpus = -1, cell = -1;
    double poll = 5;
    bool dry_run = false, wait = false, status = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sw = app.add_subcommand(
      "sweep",
      "Run a grid of cells (strategy x hyper-parameter setting x other --set axes x seed) of one base pipeline,\n"
      "all into one results store. Finished cells are skipped, interrupted ones resumed (see docs/sweeps.md).\n"
      "  quarry sweep configs/paper/table1.toml --dry-run          list the cells and their commands\n"
      "  quarry sweep configs/paper/table1.toml --jobs 2           run them here, 2 at a time\n"
      "  quarry sweep configs/paper/table1.toml --executor slurm --partition gpu --gpus 1 --time 24:00:00 --wait");
  sw->add_option("file", o->file, "sweep TOML file")->required();
  sw->add_option("--executor", o->executor, "local: child processes here; slurm: one job array task per cell")
      ->check(CLI::IsMember({"local", "slurm"}))
      ->capture_default_str();
  sw->add_option("--jobs", o->jobs,
                 "cells at once (local: default one per GPU when cells use CUDA, else one per core; "
                 "slurm: caps running array tasks, default no cap)")
      ->check(CLI::NonNegativeNumber);
  sw->add_flag("--dry-run", o->dry_run, "validate and print the cells and commands (local) or the job script (slurm)");
  sw->add_option("--cell", o->cell, "run only cell I in this process (what each Slurm array task runs)")
      ->check(CLI::NonNegativeNumber);
  sw->add_flag("--status", o->status, "print every cell's status from the store and exit");
  sw->add_option("--partition", o->partition, "slurm: partition (default: the sweep file's [slurm], else the cluster's)");
  sw->add_option("--time", o->time, "slurm: time limit per cell, e.g. 12:00:00");
  sw->add_option("--gpus", o->gpus, "slurm: GPUs per cell (--gres=gpu:N)")->check(CLI::NonNegativeNumber);
  sw->add_option("--cpus-per-task", o->cpus, "slurm: CPUs per cell; run.threads follows it")->check(CLI::NonNegativeNumber);
  sw->add_flag("--wait", o->wait,
               "slurm: wait for the job array to finish, then print the summary; Ctrl-C while waiting cancels the array");
  sw->add_option("--poll", o->poll, "slurm: seconds between squeue polls with --wait")->capture_default_str();
  return [o, &g] {
    static quarry::SpdLogger log(quarry::console_logger());
    quarry::PluginHost host(log);
    auto paths = g.plugin_paths;
    for (const auto& p : base_plugin_paths(o->file)) paths.push_back(p);
    host.discover(paths);
    const quarry::Sweep sweep = quarry::load_sweep(o->file, &host);
    if (o->cell >= 0) return quarry::run_sweep_cell(sweep, static_cast<std::size_t>(o->cell), g.plugin_paths);
    if (o->status) {
      std::cout << quarry::sweep_table(sweep);
      return 0;
    }
    if (o->executor == "slurm") {
      quarry::SlurmOptions s;
      s.partition = o->partition;
      s.time = o->time;
      s.gpus = o->gpus;
      s.cpus_per_task = o->cpus;
      s.jobs = o->jobs;
      s.plugin_paths = g.plugin_paths;
      s.dry_run = o->dry_run;
      s.wait = o->wait;
      s.poll_seconds = o->poll;
      const auto sum = quarry::run_sweep_slurm(sweep, s, std::cout);
      return o->dry_run || !o->wait ? 0 : sum.exit_code();
    }
    if (!o->partition.empty() || !o->time.empty() || o->gpus >= 0 || o->cpus >= 0 || o->wait)
      throw quarry::Error("--partition, --time, --gpus, --cpus-per-task and --wait are for --executor slurm");
    quarry::LocalOptions l;
    l.jobs = o->jobs;
    l.plugin_paths = g.plugin_paths;
    l.dry_run = o->dry_run;
    const auto sum = quarry::run_sweep_local(sweep, l, std::cout);
    return o->dry_run ? 0 : sum.exit_code();
  };
}

}  // namespace
