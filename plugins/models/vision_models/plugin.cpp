// The vision models: one plugin, one registration each.
#include <quarry/plugin.hpp>

#include "resnet18.hpp"
#include "small_cnn.hpp"
#include "vgg11_bn.hpp"
#include "wide_resnet.hpp"

QUARRY_PLUGIN("vision_models", "1.0.0") {
  using namespace quarry::vision;
  registrar.model<ResNet18>("resnet18", "ResNet-18, CIFAR variant (3x3 stem, no max-pool), 11.2M parameters at width 64",
                            ResNet18::param_specs());
  registrar.model<WideResNet>("wide_resnet", "Wide ResNet WRN-depth-widen for CIFAR, pre-activation blocks",
                              WideResNet::param_specs());
  registrar.model<Vgg11Bn>("vgg11_bn", "VGG-11 with batch norm, global average pool, one Linear",
                           Vgg11Bn::param_specs());
  registrar.model<SmallCnn>("small_cnn", "Two conv-BN-ReLU-pool stages and a small feature layer; fast on CPU",
                            SmallCnn::param_specs());
}
