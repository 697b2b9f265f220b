// Property checks for the fuzz targets: a failed check prints what was
// expected and aborts, which libFuzzer reports as a crash and saves the input.
// (assert() would vanish under NDEBUG; these never do.)
#ifndef DEGRADE_FUZZ_FUZZ_CHECK_H_
#define DEGRADE_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace degrade::fuzz {

[[noreturn]] inline void Fail(const char* file, int line, const char* what,
                              std::string_view detail) {
  std::fprintf(stderr, "%s:%d: property violated: %s\n%.*s\n", file, line, what,
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

}  // namespace degrade::fuzz

// DEGRADE_FUZZ_CHECK(condition, detail): detail is anything convertible to
// std::string_view, evaluated only on failure.
#define DEGRADE_FUZZ_CHECK(condition, detail)                                   \
  do {                                                                          \
    if (!(condition)) {                                                         \
      ::degrade::fuzz::Fail(__FILE__, __LINE__, #condition, std::string(detail)); \
    }                                                                           \
  } while (false)

#endif  // DEGRADE_FUZZ_FUZZ_CHECK_H_
