// The three kinds of plugin component. Torch-free, so the pipeline parser (and
// its fuzzer) can name them without pulling in LibTorch.
#pragma once

namespace quarry {

enum class ComponentKind { Dataset, Model, Strategy };
/// "dataset" | "model" | "strategy"
const char* to_string(ComponentKind kind);

}  // namespace quarry
