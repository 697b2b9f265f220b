// Replaces the global allocation functions of a test binary with ones that
// count every operator new (libdegrade's included), for the zero-allocation
// tests. Linked only into the tests listed in `alloc_counting_tests` in
// tests/meson.build; they read the count through test_probes.h.
#include <atomic>
#include <cstdlib>
#include <new>

#include "test_probes.h"

namespace {
std::atomic<long> g_allocations{0};
thread_local bool t_fail_allocations = false;
}  // namespace

long degrade::test_util::AllocationCount() { return g_allocations.load(); }
void degrade::test_util::FailAllocationsOnThisThread(bool fail) { t_fail_allocations = fail; }

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = t_fail_allocations ? nullptr : std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return t_fail_allocations ? nullptr : std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
// Out of line, so that the compiler never pairs an inlined free() with an
// operator new it cannot see through (-Wmismatched-new-delete).
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete[](void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, std::size_t) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
