// Heads for feature vectors: one plugin, one registration each.
#include <quarry/plugin.hpp>

#include "heads/heads.hpp"

QUARRY_PLUGIN("heads", "1.0.0") {
  using namespace quarry::heads;
  registrar.model<LinearHead>("linear",
                              "Linear classifier on feature vectors (embeddings); optional last-layer Laplace",
                              LinearHead::param_specs());
  registrar.model<MlpHead>("mlp", "One-hidden-layer ReLU MLP on feature vectors, dropout; optional last-layer Laplace",
                           MlpHead::param_specs());
}
