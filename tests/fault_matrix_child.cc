// A minimal service for tests/fault_matrix_test.cc's restart rows: defines
// three switches, starts degrade::Runtime::FromEnv() (so every source and the
// admin endpoint come from DEGRADE_* variables, as in a real service), prints
// "admin_port N" on stdout, and runs until its stdin closes. The test kills
// it with SIGKILL to simulate a crash and starts it again.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "degrade/degrade.h"

DEGRADE_SWITCH(kRecs, "recs", "Recommendations: fed by the remote layer in the test.");
DEGRADE_SWITCH(kReviews, "reviews", "Reviews: overridden through the admin endpoint in the test.");
DEGRADE_SWITCH(kAds, "ads", "Ads: set by the config file in the test.");

int main() {
  auto runtime = degrade::Runtime::FromEnv();
  if (!runtime.ok()) {
    std::fprintf(stderr, "fault_matrix_child: %s\n", std::string(runtime.status().message()).c_str());
    return 1;
  }
  std::printf("admin_port %d\n", (*runtime)->admin_port());
  std::fflush(stdout);
  char buf[256];
  while (::read(STDIN_FILENO, buf, sizeof buf) > 0) {
  }
  return 0;
}
