// What every keel benchmark binary does at start: Google Benchmark's
// initialisation with random interleaving by default, and a check that the
// allocation counter (alloc_counter.hpp, included here) sees operator new and
// malloc. Include it in the one translation unit that has main().
#pragma once

#include "alloc_counter.hpp"
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace keel_bench {

/// The counter must see both operator new and malloc, or allocs_per_op lies.
inline bool allocation_counter_works() {
    const std::uint64_t before = allocation_count();
    auto* p = new int(1);
    benchmark::DoNotOptimize(p);
    delete p;
    void* m = std::malloc(16);
    benchmark::DoNotOptimize(m);
    std::free(m);
    return allocation_count() - before == 2;
}

/// Initialises Google Benchmark. The repetitions of all benchmarks are
/// interleaved in random order unless the command line or the environment
/// says otherwise: on a shared 2-core VM the load drifts over a run, and the
/// targets compare benchmarks. `storage` keeps the rewritten argv alive.
/// Returns false (having said why) when main should exit with 1;
/// `interleaving_given` tells whether the user chose.
inline bool start(int& argc, char**& argv, std::vector<char*>& storage, bool& interleaving_given) {
    interleaving_given = std::getenv("BENCHMARK_ENABLE_RANDOM_INTERLEAVING") != nullptr;
    for (int i = 1; i < argc; ++i)
        interleaving_given |=
            std::strncmp(argv[i], "--benchmark_enable_random_interleaving",
                         sizeof("--benchmark_enable_random_interleaving") - 1) == 0;
    static char interleave[] = "--benchmark_enable_random_interleaving=true";
    storage.assign(argv, argv + argc);
    if (!interleaving_given)
        storage.push_back(interleave);
    storage.push_back(nullptr);
    argc = static_cast<int>(storage.size()) - 1;
    argv = storage.data();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return false;
    if (KEEL_BENCH_COUNT_ALLOCATIONS && !allocation_counter_works()) {
        std::fprintf(stderr, "the allocation counter does not see operator new and malloc\n");
        return false;
    }
    return true;
}

} // namespace keel_bench
