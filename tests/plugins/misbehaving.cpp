// Strategies that break the contract in every way the host must catch.
#include <stdexcept>

#include <quarry/quarry.hpp>

namespace {

using Indices = std::vector<std::int64_t>;

/// mode: out_of_range | duplicate | labeled | too_few | throw_query
class Misbehaving : public quarry::Strategy {
 public:
  explicit Misbehaving(const quarry::Params& p) : mode_(p.get_string("mode")) {}
  Indices query(quarry::QueryContext& ctx) override {
    const auto& u = ctx.unlabeled();
    const auto k = ctx.query_size();
    Indices out(u.begin(), u.begin() + std::min<std::int64_t>(k, static_cast<std::int64_t>(u.size())));
    if (mode_ == "out_of_range") out.back() = 1'000'000'000;
    if (mode_ == "negative") out.back() = -1;
    if (mode_ == "duplicate" && out.size() > 1) out.back() = out.front();
    if (mode_ == "labeled") out.back() = ctx.labeled().front();
    if (mode_ == "too_few") out.pop_back();
    if (mode_ == "throw_query") throw std::runtime_error("deliberate failure inside query");
    return out;
  }

 private:
  std::string mode_;
};

class ThrowsOnConstruction : public quarry::Strategy {
 public:
  explicit ThrowsOnConstruction(const quarry::Params&) { throw std::runtime_error("deliberate failure in constructor"); }
  Indices query(quarry::QueryContext&) override { return {}; }
};

}  // namespace

QUARRY_PLUGIN("misbehaving", "0.0.1") {
  registrar.strategy<Misbehaving>(
      "misbehaving", "Returns bad indices on purpose (tests only)",
      {quarry::param_string("mode", "out_of_range", "how to misbehave",
                            {"out_of_range", "negative", "duplicate", "labeled", "too_few", "throw_query"})});
  registrar.strategy<ThrowsOnConstruction>("throws_on_construction", "Throws in its constructor (tests only)", {});
}
