// A separate process for sticky_test: defines "sticky.recs" (its state comes
// from the environment, e.g. DEGRADE_STICKY_RECS=30%) and prints, for the
// keys user-0 ... user-<N-1> (N = argv[1]), one character per key: 1 when
// enabled(key) lets it through, else 0. Nothing else on stdout.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "degrade/switch.h"

DEGRADE_SWITCH(kStickyRecs, "sticky.recs", "Sticky dimming across processes.");

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: sticky_child N\n");
    return 2;
  }
  const long n = std::strtol(argv[1], nullptr, 10);
  std::string out;
  for (long i = 0; i < n; ++i) {
    out.push_back(kStickyRecs.enabled("user-" + std::to_string(i)) ? '1' : '0');
  }
  out.push_back('\n');
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}
