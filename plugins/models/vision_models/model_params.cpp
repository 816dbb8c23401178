#include "model_params.hpp"

#include <quarry/error.hpp>

namespace quarry::vision {

std::int64_t positive_int(const Params& params, const std::string& model, const std::string& name) {
  const auto value = params.get_int(name);
  if (value < 1)
    throw Error("model '" + model + "': parameter '" + name + "' must be a positive integer, got " +
                std::to_string(value));
  return value;
}

std::int64_t input_channels(const Params& params, const ModelSpec& spec, const std::string& model) {
  if (spec.input_dim > 0)
    throw Error("model '" + model + "' takes images, but the dataset gives feature vectors of " +
                std::to_string(spec.input_dim) + " values; use a head model (linear or mlp)");
  const auto requested = params.get_int("in_channels");
  if (requested < 0)
    throw Error("model '" + model + "': parameter 'in_channels' must be >= 0 (0 = take it from the data), got " +
                std::to_string(requested));
  const auto channels = requested > 0 ? requested : spec.in_channels;
  if (channels < 1)
    throw Error("model '" + model + "': the data reports " + std::to_string(spec.in_channels) +
                " input channels; set parameter 'in_channels' to a positive value");
  return channels;
}

double dropout_probability(const Params& params, const std::string& model) {
  const auto p = params.get_float("dropout");
  if (!(p >= 0.0 && p < 1.0))
    throw Error("model '" + model + "': parameter 'dropout' must be in [0, 1), got " + std::to_string(p));
  return p;
}

std::int64_t class_count(const ModelSpec& spec, const std::string& model) {
  if (spec.num_classes < 1)
    throw Error("model '" + model + "': the data reports " + std::to_string(spec.num_classes) +
                " classes; a classifier needs at least 1");
  return spec.num_classes;
}

torch::nn::Conv2d conv3x3(std::int64_t in, std::int64_t out, std::int64_t stride) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false));
}

}  // namespace quarry::vision
