/* The C hot path against the C++ one, in one run, ns per check:
 *   degrade_enabled(sw)        the C API: a call into libdegrade_c + the load
 *   inline C++ enabled()       Switch::enabled() inlined in a C++ loop (the
 *                              C++ hot path), bench_c_peer.cc
 *   raw relaxed atomic load    a C11 atomic_load_explicit loop: the floor
 *   degrade_call (skip path)   switch off: count the skip, run the fallback
 *
 * Run: meson test -C BUILD --benchmark bench_c -v   (or BUILD/bindings/c/bench_c)
 *      BUILD/bindings/c/bench_c [CHECKS_PER_ROUND [ROUNDS]]
 * Fixed iteration counts (default 20M checks, 5M calls, 15 rounds), so that
 * instruction counts are stable under valgrind --tool=callgrind (e.g.
 * `bench_c 1000000 1`); clock_gettime (CLOCK_MONOTONIC); the best of the
 * interleaved rounds. Results: docs/bindings.md.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "degrade_c.h"

/* bench_c_peer.cc: the inline C++ hot path over the same switch. */
uint64_t bench_cpp_enabled_loop(const degrade_switch_t* sw, uint64_t iterations);

static uint64_t g_iterations = 20000000ull; /* checks per round; calls: a quarter */
static int g_rounds = 15;

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static _Atomic int64_t g_word = 1;
static volatile uint64_t g_sink;

static uint64_t raw_atomic_loop(uint64_t iterations) {
  uint64_t n = 0;
  uint64_t i;
  for (i = 0; i < iterations; ++i) {
    if (atomic_load_explicit(&g_word, memory_order_relaxed) > 0) ++n;
  }
  return n;
}

static uint64_t c_api_loop(const degrade_switch_t* sw, uint64_t iterations) {
  uint64_t n = 0;
  uint64_t i;
  for (i = 0; i < iterations; ++i) n += degrade_enabled(sw);
  return n;
}

static int primary(void* arg) {
  ++*(uint64_t*)arg;
  return 0;
}

static void fallback(void* arg) { ++*(uint64_t*)arg; }

static uint64_t call_loop(const degrade_switch_t* sw, uint64_t iterations) {
  uint64_t n = 0;
  uint64_t i;
  for (i = 0; i < iterations; ++i) degrade_call(sw, primary, fallback, &n);
  return n;
}

enum { kCApi, kCpp, kRaw, kCall, kCases };

static const char* const kLabels[kCases] = {
    "degrade_enabled (C API)",
    "Switch::enabled (inline C++)",
    "relaxed atomic load (C11)",
    "degrade_call, switch off",
};

/* One timed round of case `which`, in ns per operation. */
static double time_round(int which, const degrade_switch_t* on, const degrade_switch_t* off) {
  const uint64_t iterations = which == kCall ? g_iterations / 4 : g_iterations;
  const double start = now_ns();
  switch (which) {
    case kCApi: g_sink = c_api_loop(on, iterations); break;
    case kCpp: g_sink = bench_cpp_enabled_loop(on, iterations); break;
    case kRaw: g_sink = raw_atomic_loop(iterations); break;
    default: g_sink = call_loop(off, iterations); break;
  }
  return (now_ns() - start) / (double)iterations;
}

int main(int argc, char** argv) {
  degrade_switch_t* on = NULL;
  degrade_switch_t* off = NULL;
  char* err = NULL;
  double best[kCases];
  int r, which;
  if (argc > 1) g_iterations = strtoull(argv[1], NULL, 10);
  if (argc > 2) g_rounds = atoi(argv[2]);
  if (g_iterations < 4 || g_rounds < 1) {
    fprintf(stderr, "usage: bench_c [CHECKS_PER_ROUND (>= 4) [ROUNDS (>= 1)]]\n");
    return 2;
  }
  if (degrade_switch_define("bench.on", "benchmark switch (on)", NULL, NULL, 1, 1.0, &on,
                            &err) != DEGRADE_OK ||
      degrade_switch_define("bench.off", "benchmark switch (off)", NULL, NULL, 0, 1.0, &off,
                            &err) != DEGRADE_OK) {
    fprintf(stderr, "bench_c: %s\n", err);
    degrade_free(err);
    return 1;
  }
  /* Rounds interleave the cases, so that a noisy neighbour hits them alike;
   * each case keeps its best round. */
  for (which = 0; which < kCases; ++which) best[which] = 1e30;
  for (r = 0; r < g_rounds; ++r) {
    for (which = 0; which < kCases; ++which) {
      const double ns = time_round(which, on, off);
      if (ns < best[which]) best[which] = ns;
    }
  }
  printf("bench_c: %llu checks (%llu calls) per round, best of %d rounds (degrade %s)\n",
         (unsigned long long)g_iterations, (unsigned long long)(g_iterations / 4), g_rounds,
         degrade_version());
  for (which = 0; which < kCases; ++which) {
    printf("%-30s %7.2f ns/op  %5.2fx the inline C++ check\n", kLabels[which], best[which],
           best[which] / best[kCpp]);
  }
  return 0;
}
