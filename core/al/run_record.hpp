// A run as the store records it: its id, its kind and the pipeline it ran. Every kind of
// run (al, reuse, tune) is created here, so the record is written one way.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/pipeline/pipeline.hpp"
#include "core/store/store.hpp"

namespace quarry {

/// "<study>-<what>-s<seed>-<6 hex>"
std::string new_run_id(const std::string& study, const std::string& what, std::int64_t seed);

/// "lr=0.01 wd=0.0005": the label a run's training setting gets in tables.
std::string hp_label(const TrainConfig& train);

/// The model as tables name it: the [model] name, and with a [backbone] the backbone file's stem
/// and how it is used, e.g. "linear on fmnist_simclr (frozen)" or "mlp on vit_s16 (fine-tuned)",
/// so a pool reused across backbones shows which network collected it and which trained on it.
std::string model_label(const Pipeline& p);

/// A new run of pipeline `p`: kind "al" | "reuse" | "tune", status "running", the resolved
/// pipeline, hp_label(p.train), model_label(p). `id` empty: new_run_id(p.name, what, seed).
RunRecord new_run_record(const Pipeline& p, const std::string& kind, const std::string& what, std::int64_t seed,
                         const std::string& id = "");

/// The [[strategies]] entry of `p` that stored al run `run` ran: its recorded position when that
/// entry names the run's strategy (a pipeline may list one strategy twice with other
/// parameters), else the first entry of that name (runs stored before positions were). An
/// Error when the pipeline has no such entry.
std::size_t strategy_index_of(const Pipeline& p, const RunRecord& run);

/// <p.results>/<id>/ with the resolved pipeline.toml in it (what a resume reads); returns the folder.
std::filesystem::path create_run_folder(const Pipeline& p, const std::string& id);

}  // namespace quarry
