// Labeled pools outside a run: `quarry pool export` files (JSON), the pool of a stored
// run at a size, and their mapping back onto the pool of another run with the same split.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/data/split.hpp"
#include "core/store/store.hpp"

namespace quarry {

/// A pool file (quarry pool export): train-split indices with the cycle each was acquired in.
struct PoolFile {
  std::string source_run, dataset;
  std::optional<std::int64_t> seed;  ///< the collecting run's seed (its split); none in a hand-written file
  std::vector<std::int64_t> train_indices;
  std::vector<std::int64_t> cycles;
};
PoolFile read_pool_file(const std::string& path);
void write_pool_file(const std::string& path, const PoolFile& pool);
/// The pool of `run_id` at `size` labels (0 = all), in acquisition order.
PoolFile pool_of_run(const Store& store, const std::string& run_id, std::int64_t size);
/// Map a pool file's train indices onto pool indices of a split; an image held out for
/// validation (or outside the pool subset) is an error naming the file.
std::vector<std::int64_t> pool_indices_for(const PoolFile& pool, const PoolSplit& split, const std::string& file);

/// A pool named on the command line: "RUN" (its last trained pool) or "RUN@SIZE".
struct PoolRef {
  std::string run;        ///< run id, unique id prefix, or (for reuse) a study name
  std::int64_t size = 0;  ///< labels; 0 = the run's last trained pool
};
/// Parse "RUN" or "RUN@SIZE" (SIZE a positive whole number); anything else is an Error
/// naming `option` ("--pool") and the expected form.
PoolRef parse_pool_ref(const std::string& spec, const std::string& option = "--pool");

}  // namespace quarry
