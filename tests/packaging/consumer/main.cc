// A service's view of degrade: a switch, a fallback, the global registry.
// Prints one line and exits 0 when everything it sees is as documented.
#include <cstdio>
#include <string>

#include "degrade/degrade.h"

DEGRADE_SWITCH(kRecommendations, "recommendations", "recommendations on the checkout page");

int main() {
  const std::string page = degrade::Call(
      kRecommendations, [] { return std::string("with recommendations"); },
      [] { return std::string("without recommendations"); });
  auto info = degrade::Registry::Global().Get("recommendations");
  if (!info.ok() || page != "with recommendations" || !kRecommendations.enabled()) {
    std::fprintf(stderr, "consumer: unexpected state: %s\n", info.status().ToString().c_str());
    return 1;
  }
  std::printf("consumer: %s; switch %s\n", page.c_str(),
              degrade::DescribeState(info->effective).c_str());
  return 0;
}
