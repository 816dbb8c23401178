// A dataset and a model that break their contracts in the ways the host must catch
// (tests only): each is refused with a message naming the component and its library.
#include <quarry/quarry.hpp>

#include <torch/torch.h>

namespace {

/// mode: wrong_dtype | wrong_rank | label_out_of_range | count_mismatch | ok
class BadDataset : public quarry::Dataset {
 public:
  explicit BadDataset(const quarry::Params& p) : mode_(p.get_string("mode")) {}
  quarry::DatasetData load(quarry::Logger&) override {
    quarry::DatasetData d;
    const std::int64_t n = 40, m = 10;
    d.class_names = {"a", "b"};
    d.mean = {0.5};
    d.std = {0.25};
    d.train.images = torch::zeros({n, 1, 8, 8}, torch::kUInt8);
    d.train.labels = torch::arange(n, torch::kInt64).remainder(2);
    d.test.images = torch::zeros({m, 1, 8, 8}, torch::kUInt8);
    d.test.labels = torch::arange(m, torch::kInt64).remainder(2);
    if (mode_ == "wrong_dtype") d.train.images = d.train.images.to(torch::kFloat32);
    if (mode_ == "wrong_rank") d.train.images = d.train.images.view({n, 64});
    if (mode_ == "label_out_of_range") d.test.labels[3] = 7;
    if (mode_ == "count_mismatch") d.train.labels = d.train.labels.narrow(0, 0, n - 1);
    return d;
  }

 private:
  std::string mode_;
};

/// mode: logits_shape | features_shape | no_features | ok
class BadModel : public quarry::Model {
 public:
  BadModel(const quarry::Params& p, const quarry::ModelSpec& spec)
      : mode_(p.get_string("mode")), classes_(spec.num_classes),
        fc_(register_module("fc", torch::nn::Linear(spec.in_channels * spec.height * spec.width, 4))) {}
  quarry::ModelOutput forward(const torch::Tensor& x) override {
    auto f = fc_->forward(x.flatten(1));
    quarry::ModelOutput out;
    out.features = f;
    out.logits = f.narrow(1, 0, std::min<std::int64_t>(classes_, 4));
    if (mode_ == "logits_shape") out.logits = f;  // 4 columns for 2 classes
    if (mode_ == "features_shape") out.features = f.narrow(1, 0, 3);
    if (mode_ == "no_features") out.features = torch::Tensor();
    return out;
  }
  std::int64_t feature_dim() const override { return 4; }

 private:
  std::string mode_;
  std::int64_t classes_;
  torch::nn::Linear fc_;
};

}  // namespace

QUARRY_PLUGIN("misbehaving_data", "0.0.1") {
  registrar.dataset<BadDataset>(
      "bad_dataset", "Returns tensors that break the dataset contract (tests only)",
      {quarry::param_string("mode", "ok", "how to misbehave",
                            {"ok", "wrong_dtype", "wrong_rank", "label_out_of_range", "count_mismatch"})});
  registrar.model<BadModel>("bad_model", "Returns outputs of the wrong shape (tests only)",
                            {quarry::param_string("mode", "ok", "how to misbehave",
                                                  {"ok", "logits_shape", "features_shape", "no_features"})});
}
