// The C++ peer of bench_c.c: Switch::enabled() inlined in a loop, over the
// same switch the C API checks (a degrade_switch_t* is a degrade::Switch*).
#include <cstdint>

#include "degrade/switch.h"
#include "degrade_c.h"

extern "C" uint64_t bench_cpp_enabled_loop(const degrade_switch_t* handle, uint64_t iterations) {
  const auto& sw = *reinterpret_cast<const degrade::Switch*>(handle);
  uint64_t n = 0;
  for (uint64_t i = 0; i < iterations; ++i) n += sw.enabled() ? 1 : 0;
  return n;
}
