// Running the built degradectl as a subprocess ($DEGRADECTL, set by meson)
// and collecting what it did, for the degradectl_*_test suites. In
// namespace degrade::test_util.
//
//   RunCtl(args, env = {})   runs degradectl with `args` and `env` (plus
//                            PATH, HOME and USER=ana), waits at most
//                            kCtlPatience, and returns its exit code,
//                            stdout and stderr
#ifndef DEGRADE_TESTS_TEST_CTL_H_
#define DEGRADE_TESTS_TEST_CTL_H_

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "subprocess.h"

namespace degrade::test_util {

inline constexpr absl::Duration kCtlPatience = absl::Seconds(20);

struct CtlOutput {
  int exit_code = -1;
  std::string out, err;
};

inline CtlOutput RunCtl(std::vector<std::string> args, std::vector<std::string> env = {}) {
  CtlOutput o;
  const char* path = std::getenv("DEGRADECTL");
  if (path == nullptr) {
    ADD_FAILURE() << "DEGRADECTL is not set (meson sets it to the built degradectl)";
    return o;
  }
  args.insert(args.begin(), path);
  env.insert(env.end(), {"PATH=/usr/bin:/bin", "HOME=/tmp", "USER=ana"});
  testing_util::Subprocess p(std::move(args), std::move(env));
  EXPECT_TRUE(p.started()) << p.error();
  o.exit_code = p.Finish(kCtlPatience);
  o.out = p.out();
  o.err = p.err();
  return o;
}

}  // namespace degrade::test_util

#endif  // DEGRADE_TESTS_TEST_CTL_H_
