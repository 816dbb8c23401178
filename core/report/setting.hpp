// A run's setting: what its pipeline sets differently from the other runs it is compared with.
//
// A sweep may vary any pipeline key ([[grid.hp]], [grid.set]: al.initial, al.query_size,
// train.epochs, ...). Runs store their resolved pipeline; the report compares those of the al
// runs of each (dataset, model) and names every setting by the keys that vary, so curves,
// Table 1, AUBC and the penalty matrix group by whatever the grid varied.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/report/data.hpp"

namespace quarry::report {

/// A stored pipeline flattened to "section.key" -> value as text ("al.initial" -> "100").
/// Keys that say which run it is rather than how it learns are left out: run.name, run.seeds,
/// run.results, run.threads, run.plugin_paths, strategies (the strategy is its own axis),
/// dataset.name and model.name (the report's own dimensions). Throws quarry::Error when
/// the text is not TOML.
std::map<std::string, std::string> setting_values(const std::string& pipeline_toml);

/// `value` with the run's own seed made a placeholder: "x-s3" and "x-s3@40" -> "x-s{seed}" and
/// "x-s{seed}@40" for seed 3, so hpo.from_run = "...-s{seed}" (a sweep taking each seed's setting
/// from the same seed's run) is one setting over seeds, not one per seed.
std::string seed_free(const std::string& value, std::int64_t seed);

/// Relabel the `hp` of the al runs among `runs` with a stored pipeline: per (dataset, model),
/// the keys whose values differ between them, "key=value" in key order, after
/// "lr=.. wd=.." (from the pipeline) when train.lr or train.weight_decay varies. When nothing
/// varies the label stays as it was. Returns the keys that vary (over every combination), sorted;
/// warnings for pipelines that cannot be read go to `warnings`.
std::vector<std::string> label_settings(std::vector<RunData>& runs, std::vector<std::string>& warnings);

}  // namespace quarry::report
