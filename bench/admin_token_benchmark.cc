// Whether the admin token comparison takes the same time wherever a presented
// token differs (docs/security.md). ConstantTimeEquals against a 64-byte
// token, with the difference at the first byte, at the last byte, none, and
// a presented prefix or a longer token; the peer is std::string_view's ==,
// which stops at the first difference (memcmp), in the same binary.
//
//   meson setup /tmp/bench-build --buildtype=release -Dtests=false
//   ninja -C /tmp/bench-build bench/admin_token_benchmark
//   /tmp/bench-build/bench/admin_token_benchmark --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true    (one command line)
//
// What to read: for ConstantTime the four "differs at" cases should be about
// equal (ratio near 1); for the peer, FirstByte is faster than LastByte.
// Results are in docs/security.md ("Measured").
#include <string>
#include <string_view>

#include "admin/admin_server.h"
#include "benchmark/benchmark.h"

namespace {

const std::string kToken(64, 'k');

std::string Presented(int where) {
  std::string s = kToken;
  switch (where) {
    case 0:  // first byte differs
      s.front() = 'x';
      break;
    case 1:  // last byte differs
      s.back() = 'x';
      break;
    case 2:  // equal
      break;
    case 3:  // a prefix
      s.resize(8);
      break;
    default:  // longer
      s += "-and-more";
      break;
  }
  return s;
}

void BM_TokenCompare_ConstantTime(benchmark::State& state) {
  const std::string presented = Presented(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    std::string_view a = presented;
    std::string_view b = kToken;
    benchmark::DoNotOptimize(a);
    benchmark::DoNotOptimize(b);
    benchmark::DoNotOptimize(degrade::internal::ConstantTimeEquals(a, b));
  }
}
BENCHMARK(BM_TokenCompare_ConstantTime)->ArgName("differs_at")->DenseRange(0, 4);

void BM_TokenCompare_StdEqualPeer(benchmark::State& state) {
  const std::string presented = Presented(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    std::string_view a = presented;
    std::string_view b = kToken;
    benchmark::DoNotOptimize(a);
    benchmark::DoNotOptimize(b);
    benchmark::DoNotOptimize(a == b);
  }
}
BENCHMARK(BM_TokenCompare_StdEqualPeer)->ArgName("differs_at")->DenseRange(0, 2);

}  // namespace

BENCHMARK_MAIN();
