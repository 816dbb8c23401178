// [backbone]: TorchScript networks exported here by the Python torch that matches this build's
// LibTorch (Debian's python3-torch for 1.13, the .venv's for 2.x), their embeddings against
// Python's, the errors, and frozen and fine-tuned runs through `quarry run`.
#include "testing.hpp"

#include <torch/script.h>
#include <torch/version.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "core/al/loop.hpp"
#include "core/al/run_record.hpp"
#include "core/data/backbone.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/report/data.hpp"
#include "core/report/reuse_table.hpp"
#include "core/reuse/reuse.hpp"
#include "core/store/store.hpp"
#include "core/training/experiment.hpp"
#include "process.hpp"
#include "quarry/error.hpp"
#include "support.hpp"

namespace test_backbone {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using namespace quarry::testing;
namespace fs = std::filesystem;

namespace {

/// The Python whose torch wrote files this LibTorch reads: the same major.minor.
std::string matching_python() {
  const std::string want = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR);
  for (const auto& py : {std::string("/usr/bin/python3"), (source_dir() / ".venv/bin/python").string()}) {
    if (!fs::exists(py)) continue;
    TempDir t;
    const auto r = run_process({py, "-c", "import torch; print(torch.__version__)"}, t.path() / "log");
    if (r.exit_code == 0 && r.output.rfind(want, 0) == 0) return py;
  }
  return "";
}

void run_python(const std::string& python, const std::string& code, const fs::path& dir) {
  const auto script = dir / "export.py";
  std::ofstream(script) << "import torch, numpy as np\nOUT = " << dir << "\n" << code << "\n";
  const auto r = run_process({python, script.string()}, dir / "export.log");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

// A small network: conv -> relu -> global pool -> linear, features of 6; traced at 16x16.
const char* const kExport = R"(
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                          torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 6)).eval()
torch.jit.trace(net, torch.zeros(1, 3, 16, 16)).save(f"{OUT}/backbone.pt")
rng = np.random.default_rng(1)
images = rng.integers(0, 256, (5, 3, 12, 12), dtype=np.uint8)
images.tofile(f"{OUT}/images.bin")
x = torch.from_numpy(images).float() / 255
x = torch.nn.functional.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
mean = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1); std = torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
with torch.no_grad():
    net((x - mean) / std).numpy().astype(np.float32).tofile(f"{OUT}/features.bin")
# Wrong outputs: a feature map instead of vectors, and a tuple.
torch.jit.trace(torch.nn.Conv2d(3, 2, 1), torch.zeros(1, 3, 16, 16)).save(f"{OUT}/map.pt")
class Pair(torch.nn.Module):
    def forward(self, x): return x.mean((2, 3)), x.amax((2, 3))
torch.jit.script(Pair()).save(f"{OUT}/pair.pt")
)";

BackboneConfig config(const fs::path& file) {
  BackboneConfig c;
  c.enabled = true;
  c.file = file.string();
  c.input_size = 16;
  c.mean = {0.5, 0.4, 0.3};
  c.std = {0.2, 0.25, 0.3};
  return c;
}

std::vector<char> read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL_CHECK("expected an Error");
  return "";
}

}  // namespace

TEST_CASE("backbone: Quarry's embeddings equal Python's for a TorchScript file, and bad files are refused") {
  const auto python = matching_python();
  if (python.empty()) {
    MESSAGE("skipped: no Python with torch " << TORCH_VERSION_MAJOR << "." << TORCH_VERSION_MINOR
                                               << " (Debian's python3-torch, or scripts/setup.sh --torch2's .venv)");
    return;
  }
  TempDir t;
  run_python(python, kExport, t.path());
  auto images_bytes = read_all(t.path() / "images.bin");
  auto features_bytes = read_all(t.path() / "features.bin");
  REQUIRE(images_bytes.size() == 5 * 3 * 12 * 12);
  REQUIRE(features_bytes.size() == 5 * 6 * 4);
  const auto images = torch::from_blob(images_bytes.data(), {5, 3, 12, 12}, torch::kUInt8).clone();
  const auto want = torch::from_blob(features_bytes.data(), {5, 6}, torch::kFloat32).clone();
  const auto c = config(t.path() / "backbone.pt");
  auto module = load_backbone(c.file, torch::kCPU);
  torch::NoGradGuard ng;
  const auto got = backbone_forward(*module, backbone_input(images, c), c.file);
  CHECK(got.sizes() == torch::IntArrayRef({5, 6}));
  const double diff = (got - want).abs().max().item<double>();
  MESSAGE("largest difference to Python's embeddings: " << diff);
  CHECK(diff < 1e-5);
  // Gray images are repeated to the backbone's three channels.
  const auto gray = images.slice(1, 0, 1);
  CHECK(torch::allclose(backbone_forward(*module, backbone_input(gray, c), c.file),
                        backbone_forward(*module, backbone_input(gray.expand({5, 3, 12, 12}), c), c.file)));

  // Not TorchScript at all.
  std::ofstream(t.path() / "junk.pt") << "not a zip archive";
  CHECK(error_of([&] { load_backbone((t.path() / "junk.pt").string(), torch::kCPU); }).find("not a TorchScript file") !=
        std::string::npos);
  // A feature map, not vectors; a tuple, not a tensor.
  auto map = load_backbone((t.path() / "map.pt").string(), torch::kCPU);
  const auto map_error = error_of([&] { backbone_forward(*map, backbone_input(images, c), "map.pt"); });
  CHECK(map_error.find("returned features of shape [5, 2, 16, 16]") != std::string::npos);
  auto pair = load_backbone((t.path() / "pair.pt").string(), torch::kCPU);
  CHECK(error_of([&] { backbone_forward(*pair, backbone_input(images, c), "pair.pt"); }).find("returned a Tuple") !=
        std::string::npos);
  // Images with channels the normalisation does not cover.
  auto c2 = c;
  c2.mean = {0.5, 0.5};
  c2.std = {0.2, 0.2};
  CHECK(error_of([&] { backbone_input(images, c2); }).find("3 channels but backbone.mean/std give 2") != std::string::npos);
}

TEST_CASE("backbone: a file written by a newer PyTorch than this LibTorch names both versions") {
  if (TORCH_VERSION_MAJOR >= 2) {
    MESSAGE("skipped: this build's LibTorch is " TORCH_VERSION ", the newest line tested here");
    return;
  }
  const auto venv = source_dir() / ".venv/bin/python";
  if (!fs::exists(venv)) {
    MESSAGE("skipped: no .venv with torch 2.x (scripts/setup.sh --torch2)");
    return;
  }
  TempDir t;
  run_python(venv.string(), kExport, t.path());
  const auto e = error_of([&] { load_backbone((t.path() / "backbone.pt").string(), torch::kCPU); });
  INFO(e);
  CHECK(e.find("written by PyTorch 2.1 or newer") != std::string::npos);
  CHECK(e.find("LibTorch " TORCH_VERSION) != std::string::npos);
}

TEST_CASE("backbone: the [backbone] section is read with its defaults, and its errors name file:line:column") {
  TempDir t;
  const auto file = t.path() / "net.pt";
  std::ofstream(file) << "x";
  const auto base = synthetic_pipeline("r");
  auto p = parse_pipeline(base + "\n[backbone]\nfile = \"" + file.string() + "\"\nfinetune = true\n", "p.toml", {}, &host());
  CHECK(p.backbone.enabled);
  CHECK(p.backbone.finetune);
  CHECK(p.backbone.input_size == 224);
  CHECK(p.backbone.mean == std::vector<double>{0.485, 0.456, 0.406});
  // The resolved pipeline (stored with every run, read by --resume) keeps the section.
  auto again = parse_pipeline(p.resolved_toml, "resolved.toml", {}, &host());
  CHECK(again.backbone.file == file.string());
  CHECK(again.backbone.finetune);
  CHECK_FALSE(parse_pipeline(base, "p.toml", {}, &host()).backbone.enabled);
  const auto line = std::count(base.begin(), base.end(), '\n') + 3;
  CHECK_THROWS_WITH_AS(parse_pipeline(base + "\n[backbone]\nfile = \"nowhere.pt\"\n", "p.toml", {}, &host()),
                       doctest::Contains(("p.toml:" + std::to_string(line) + ":8: key 'backbone.file': 'nowhere.pt' does not exist").c_str()),
                       Error);
  CHECK_THROWS_WITH_AS(parse_pipeline(base + "\n[backbone]\nfile = \"" + file.string() + "\"\nmean = [0.5]\n", "p.toml", {}, &host()),
                       doctest::Contains("key 'backbone.std': 3 values for 1 in backbone.mean"), Error);
  CHECK_THROWS_WITH_AS(parse_pipeline(base + "\n[backbone]\nfile = \"" + file.string() + "\"\nsize = 3\n", "p.toml", {}, &host()),
                       doctest::Contains("backbone.size"), Error);
}

namespace {
std::string backbone_pipeline(const fs::path& dir, const fs::path& backbone, bool finetune) {
  return R"([run]
name = "bb"
seeds = [1]
device = "cpu"
threads = 1
results = ")" + (dir / "runs").string() + R"("

[dataset]
name = "synthetic"
num_classes = 3
train_size = 120
test_size = 30
channels = 3
height = 12
width = 12

[backbone]
file = ")" + backbone.string() + R"("
input_size = 16
mean = [0.5, 0.4, 0.3]
std = [0.2, 0.25, 0.3]
finetune = )" + (finetune ? "true" : "false") + R"(
cache_dir = ")" + (dir / "cache").string() + R"("

[model]
name = "linear"

[train]
epochs = 3
batch_size = 16
lr = 0.05
warmup_epochs = 0

[al]
initial = 9
query_size = 9
budget = 27

[[strategies]]
name = "margin"
)";
}
}  // namespace

TEST_CASE("backbone: frozen (cached embeddings) and fine-tuned runs through quarry run") {
  const auto python = matching_python();
  if (python.empty()) return;
  TempDir t;
  run_python(python, kExport, t.path());
  const auto bb = t.path() / "backbone.pt";
  for (bool finetune : {false, true}) {
    CAPTURE(finetune);
    const auto pipeline = t.path() / (finetune ? "fine.toml" : "frozen.toml");
    std::ofstream(pipeline) << backbone_pipeline(t.path() / (finetune ? "f" : "z"), bb, finetune);
    const auto r = run_process({quarry_binary(), "run", pipeline.string()}, t.path() / "run.log", 300);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(r.output.find("27 labels: test acc") != std::string::npos);
    CHECK((r.output.find("embedded 150 images into 6 features") != std::string::npos) == !finetune);
    if (!finetune) {
      // The second run reads the embeddings from the cache.
      const auto again = run_process({quarry_binary(), "run", pipeline.string(), "--set", "run.results=" +
                                      (t.path() / "z2").string()}, t.path() / "run2.log", 300);
      INFO(again.output);
      CHECK(again.exit_code == 0);
      CHECK(again.output.find("150 embeddings of 6 from the cache") != std::string::npos);
    }
  }
}

TEST_CASE("backbone: the fine-tuned model trains the backbone's own tensors") {
  const auto python = matching_python();
  if (python.empty()) return;
  TempDir t;
  run_python(python, kExport, t.path());
  auto p = parse_pipeline(backbone_pipeline(t.path(), t.path() / "backbone.pt", true), "p.toml", {}, &host());
  auto jit = load_backbone(p.backbone.file, torch::kCPU);
  const auto before = (*jit->named_parameters().begin()).value.clone();
  const ModelSpec images{3, 12, 12, 3};
  auto model = make_model(p, images, 1, host(), torch::kCPU, {0.5, 0.5, 0.5}, {0.25, 0.25, 0.25});
  // The model's parameters: the head's two and every backbone tensor of the file.
  CHECK(model->parameters().size() == 2 + jit->parameters().size());
  model->train(true);
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.1));
  const auto x = torch::randn({4, 3, 12, 12});
  const auto y = torch::tensor({0, 1, 2, 0}, torch::kInt64);
  opt.zero_grad();
  torch::nn::functional::cross_entropy(model->forward(x).logits, y).backward();
  opt.step();
  // The first backbone parameter (registered under backbone__...) moved.
  torch::Tensor first;
  for (const auto& kv : model->named_parameters())
    if (kv.key().rfind("backbone__", 0) == 0) {
      first = kv.value();
      break;
    }
  REQUIRE(first.defined());
  CHECK_FALSE(torch::equal(first, before));
}

namespace {
// backbone_pipeline's data, protocol and loop without the [backbone]: a scratch small CNN on the images.
std::string scratch_pipeline(const fs::path& dir, const fs::path& backbone) {
  auto text = backbone_pipeline(dir, backbone, false);
  const auto from = text.find("[backbone]"), to = text.find("[model]");
  REQUIRE(from != std::string::npos);
  text.replace(from, to - from, "");
  const std::string linear = "name = \"linear\"";
  text.replace(text.find(linear), linear.size(), "name = \"small_cnn\"\nwidth = 8\nfeature_dim = 16");
  return text;
}
}  // namespace

TEST_CASE("backbone: pools reused across backbones, scratch CNN <-> frozen backbone + linear head, in the reuse table") {
  const auto python = matching_python();
  if (python.empty()) return;
  TempDir t;
  run_python(python, kExport, t.path());
  const auto bb = t.path() / "backbone.pt";
  std::ofstream(t.path() / "frozen.toml") << backbone_pipeline(t.path(), bb, false);
  std::ofstream(t.path() / "scratch.toml") << scratch_pipeline(t.path(), bb);
  const auto frozen = load_pipeline((t.path() / "frozen.toml").string(), {}, &host());
  const auto scratch = load_pipeline((t.path() / "scratch.toml").string(), {}, &host());
  REQUIRE_FALSE(scratch.backbone.enabled);
  CHECK(model_label(frozen) == "linear on backbone (frozen)");
  CHECK(model_label(scratch) == "small_cnn");
  Store store(fs::path(frozen.results) / "quarry.db");
  const auto with_backbone = run_active_learning(frozen, 0, 1, host(), store);
  const auto with_cnn = run_active_learning(scratch, 0, 1, host(), store);
  CaptureLogger log;
  ReuseRequest onto_cnn;
  onto_cnn.pipeline = (t.path() / "scratch.toml").string();
  onto_cnn.pools = {with_backbone.run_id + "@18"};
  ReuseRequest onto_backbone;
  onto_backbone.pipeline = (t.path() / "frozen.toml").string();
  onto_backbone.pools = {with_cnn.run_id + "@18"};
  const auto a = reuse_pools(onto_cnn, host(), log);
  const auto b = reuse_pools(onto_backbone, host(), log);
  REQUIRE(a.size() == 1);
  REQUIRE(b.size() == 1);
  CHECK(store.find_run(a[0])->model == "small_cnn");
  CHECK(store.find_run(b[0])->model == "linear on backbone (frozen)");
  // Each reuse run trained on exactly the 18 images the other model's run had labeled.
  for (const auto& [reuse, source] : {std::pair{a[0], with_backbone.run_id}, std::pair{b[0], with_cnn.run_id}}) {
    const auto got = store.acquired(reuse), want = store.acquired(source);
    REQUIRE(got.size() == 18);
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i].train_index == want[i].train_index);
    CHECK(store.cycles(reuse).at(0).test_accuracy > 0);
  }
  const auto data = report::load({frozen.results}, {"bb"});
  const auto rows = report::reuse_table(data);
  REQUIRE(rows.size() == 2);
  std::set<std::pair<std::string, std::string>> pairs;
  for (const auto& r : rows) {
    pairs.insert({r.source_model, r.model});
    CHECK(r.size == 18);
    CHECK(r.strategy == "margin");
    CHECK(r.source.n == 1);
    CHECK(r.reuse.n == 1);
  }
  CHECK(pairs == std::set<std::pair<std::string, std::string>>{{"linear on backbone (frozen)", "small_cnn"},
                                                               {"small_cnn", "linear on backbone (frozen)"}});
  CHECK(report::reuse_markdown(rows).find("pools collected with small_cnn, trained with linear on backbone (frozen)") !=
        std::string::npos);
}

}  // namespace test_backbone
