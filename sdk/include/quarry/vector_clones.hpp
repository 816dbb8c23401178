// One attribute for the SDK's and the plugins' hot loops: compile a function for the widest
// vector unit this CPU has, with the same bits on every one.
#pragma once

/// Put before a hot loop's function (a plain, non-inline one) to compile it for AVX-512, AVX2 and
/// baseline x86-64 and run the widest this CPU has (GCC's target_clones; elsewhere nothing), with
/// the loop vectoriser on whatever the build's -O level (RelWithDebInfo's -O2 leaves it off in
/// GCC 12). None of the three enables fused multiply-add and no flag here reassociates, so a loop
/// of float adds and multiplies in a fixed order (quarry::xlogx, the k-means++ distances) gives the
/// same bits in all three.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define QUARRY_VECTOR_CLONES \
  __attribute__((target_clones("avx512f", "avx2", "default"), optimize("tree-vectorize", "vect-cost-model=dynamic")))
#else
#define QUARRY_VECTOR_CLONES
#endif
