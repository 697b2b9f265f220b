// A small service for the console's browser test: a few switches with
// degrade::Call loops running (one with a failing dependency and a breaker,
// one dimmed through its group, one with a very long name and reason), a file
// layer that mentions names this process does not define, and the admin
// endpoint on 127.0.0.1 (port 0).
//
//   console_fixture [TOKEN]     prints "file PATH" (the config file, which
//                               the test may rewrite) and "port N" once
//                               serving, then runs until stdin closes or
//                               90 s pass.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "degrade/call.h"
#include "degrade/registry.h"
#include "degrade/runtime.h"

int main(int argc, char** argv) {
  const std::string token = argc > 1 ? argv[1] : "console-test-token";
  degrade::Registry::Options ro;
  ro.log_sink = [](degrade::LogLevel level, std::string_view message) {
    if (level == degrade::LogLevel::kError) std::cerr << "degrade: " << message << "\n";
  };
  degrade::Registry registry(ro);

  std::vector<degrade::Switch*> switches;
  for (degrade::SwitchSpec spec : {
           degrade::SwitchSpec{.name = "checkout.recommendations",
                               .description = "Personalized recommendations on the checkout "
                                              "page; checkout works without them.",
                               .owner = "team-discovery",
                               .groups = {"tier2"}},
           degrade::SwitchSpec{.name = "search.suggest",
                               // Markup in server text must show as text.
                               .description = "Search suggestions <img src=x "
                                              "onerror=\"document.title='pwned'\">",
                               .owner = "team-search"},
           degrade::SwitchSpec{.name = "analytics.events",
                               .description = "Client analytics forwarding; losing it loses "
                                              "only metrics.",
                               .owner = "team-data",
                               .groups = {"tier2"}},
           // Its dependency always fails: the breaker opens within ~1 s.
           degrade::SwitchSpec{.name = "payments.fraud-score",
                               .description = "Vendor fraud score; orders are scored later "
                                              "without it.",
                               .owner = "team-payments",
                               .breaker = degrade::BreakerPolicy{
                                   .window = degrade::BreakerPolicy::Window::kCount,
                                   .window_size = 20,
                                   .min_calls = 10,
                                   .open_s = 600}},
           // Dimmed by the file layer through its group.
           degrade::SwitchSpec{.name = "inventory.badges",
                               .description = "Stock badges on product tiles.",
                               .owner = "team-inventory",
                               .groups = {"tier3"}},
           // Long text must wrap, never widen the page.
           degrade::SwitchSpec{
               .name = "storefront.personalised-homepage-hero-banner-carousel-"
                       "recommendations-experiment-variant-b",
               .description = "See https://wiki.example.com/storefront/experiments/"
                              "personalised-homepage-hero-banner-carousel-recommendations-"
                              "experiment-variant-b/runbook#when-the-vendor-times-out",
               .owner = "team-storefront-experiments-and-personalisation"},
       }) {
    auto sw = registry.Define(std::move(spec));
    if (!sw.ok()) {
      std::cerr << sw.status() << "\n";
      return 1;
    }
    switches.push_back(*sw);
  }

  // A file layer that dims one switch and names one this build lacks.
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("degrade-console-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::filesystem::path file = dir / "degrade.json";
  std::ofstream(file) << R"({"switches": {"analytics.events": {"allow": 0.5, "reason": "cost cut",
                             "actor": "finops"}, "legacy.widget": "off",
    "storefront.personalised-homepage-hero-banner-carousel-recommendations-experiment-variant-b":
      {"state": "on", "reason": "INC-20261206-0042/vendor-timeouts/see-https://status.example.com/incidents/20261206-0042-hero-banner-carousel-vendor",
       "actor": "release-train-automation-bot@storefront.example.com"},
    "legacy.an-old-switch-name-from-a-previous-release-that-still-sits-in-the-shared-config-file": "off"},
  "groups": {"tier3": {"allow": 0.25, "reason": "INC-9 shed tier3", "actor": "sre-bob"}}})";

  degrade::Options o;
  o.registry = &registry;
  o.config_file = file.string();
  o.admin_addr = "127.0.0.1:0";
  o.admin_token = token;
  auto runtime = degrade::Runtime::Start(o);
  if (!runtime.ok()) {
    std::cerr << runtime.status() << "\n";
    return 1;
  }

  std::atomic<bool> stop{false};
  std::vector<std::thread> callers;
  for (size_t i = 0; i < switches.size(); ++i) {
    callers.emplace_back([&, i] {
      uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        ++n;
        degrade::Call(
            *switches[i],
            [&]() -> absl::StatusOr<int> {
              if (i == 1 && n % 10 == 0) return absl::UnavailableError("flaky");
              if (i == 3) return absl::UnavailableError("vendor 503");
              if (i == 4 && n % 4 == 0) return absl::UnavailableError("stock service timeout");
              return 1;
            },
            [] { return 0; });
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }

  std::cout << "file " << file.string() << "\n"
            << "port " << (*runtime)->admin_port() << std::endl;

  // Until stdin closes (the test ends) or 90 s pass (the test died).
  std::atomic<bool> stdin_closed{false};
  std::thread([&] {
    char buf[256];
    while (::read(0, buf, sizeof buf) > 0) {
    }
    stdin_closed.store(true);
  }).detach();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (!stdin_closed.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stop.store(true);
  for (std::thread& t : callers) t.join();
  runtime->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
