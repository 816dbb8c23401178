// A pipeline's [backbone]: a TorchScript network that maps a normalised image batch to
// feature vectors. Frozen (finetune = false), every image is embedded once and the run trains
// its model (a head) on the embeddings; fine-tuned, training/backbone_model.hpp puts it in front
// of the head. See docs/models.md ("Backbones").
#pragma once

#include <memory>
#include <string>

#include <torch/types.h>

#include "core/pipeline/settings.hpp"
#include "quarry/dataset.hpp"
#include "quarry/logger.hpp"

namespace torch::jit {
struct Module;
}

namespace quarry {

/// The loaded TorchScript module (in eval mode, on `device`). Throws Error naming the file
/// when it is not TorchScript, or was written by a PyTorch this build's LibTorch cannot read
/// (the message names both versions).
std::shared_ptr<torch::jit::Module> load_backbone(const std::string& file, torch::Device device);

/// Float images in [0, 1], N x C x H x W -> what the backbone takes: a gray image repeated to
/// as many channels as the backbone's mean has, resized (bilinear, align_corners = false) to
/// input_size, normalised with the backbone's mean/std. Differentiable (the fine-tuned path).
torch::Tensor backbone_normalise(const torch::Tensor& pixels01, const BackboneConfig& config);

/// uint8 N x C x H x W images -> backbone_normalise(images / 255).
torch::Tensor backbone_input(const torch::Tensor& images, const BackboneConfig& config);

/// Run the backbone over `x` (its input, as backbone_input makes it) and check its output:
/// one tensor, N x D, finite. Errors name the file and what it returned.
torch::Tensor backbone_forward(torch::jit::Module& module, const torch::Tensor& x, const std::string& file);

/// The dataset with every image replaced by its embedding (float32 N x D, on the CPU; no
/// mean/std), computed in batches on `device` with a progress line, or read from the cache:
/// one file keyed by the backbone file's bytes, the images and labels, input_size and the
/// normalisation.
DatasetData embed_dataset(const DatasetData& data, const BackboneConfig& config, torch::Device device, Logger& log);

}  // namespace quarry
