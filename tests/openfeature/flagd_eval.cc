// flagd_eval: what degrade makes of a flagd flag file, for the conformance
// test against flagd's own evaluator (flagd_conformance.test.mjs).
//
//   flagd_eval FILE KEYS SWITCH...
//
// Defines SWITCH... (default on) in a registry, starts a Runtime whose
// config file is FILE in the flagd format (DEGRADE_CONFIG_FORMAT=flagd), and
// prints one JSON object:
//   {"errors": [...the error lines logged...],
//    "switches": {NAME: {"state": "on", "allow": 1, "layer": "file",
//                        "values": "1101..."}}}
// where values holds Switch::enabled(key) for the keys "user-0" ...
// "user-(KEYS-1)", one character each. Exit status 0 unless the arguments
// are wrong or the runtime cannot start.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "degrade/degrade.h"
#include "nlohmann/json.hpp"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: flagd_eval FILE KEYS SWITCH...\n");
    return 2;
  }
  const int keys = std::atoi(argv[2]);
  if (keys <= 0 || keys > 1'000'000) {
    std::fprintf(stderr, "flagd_eval: KEYS \"%s\" is not in [1, 1000000]\n", argv[2]);
    return 2;
  }
  std::mutex mu;
  std::vector<std::string> errors;
  degrade::Registry::Options ro;
  ro.getenv = [](std::string_view) { return std::optional<std::string>(); };
  ro.log_sink = [&](degrade::LogLevel level, std::string_view message) {
    if (level != degrade::LogLevel::kError) return;
    std::lock_guard<std::mutex> lock(mu);
    errors.emplace_back(message);
  };
  degrade::Registry registry(std::move(ro));
  std::vector<degrade::Switch*> switches;
  for (int i = 3; i < argc; ++i) {
    auto sw = registry.Define({.name = argv[i], .description = "a flag of the conformance set"});
    if (!sw.ok()) {
      std::fprintf(stderr, "flagd_eval: %s\n", std::string(sw.status().message()).c_str());
      return 2;
    }
    switches.push_back(*sw);
  }
  degrade::Options options;
  options.registry = &registry;
  options.config_file = argv[1];
  options.config_format = "flagd";
  auto runtime = degrade::Runtime::Start(options);
  if (!runtime.ok()) {
    std::fprintf(stderr, "flagd_eval: %s\n", std::string(runtime.status().message()).c_str());
    return 1;
  }
  nlohmann::json out;
  {
    std::lock_guard<std::mutex> lock(mu);
    out["errors"] = errors;
  }
  out["switches"] = nlohmann::json::object();
  for (degrade::Switch* sw : switches) {
    const degrade::EffectiveState state = sw->state();
    std::string values(static_cast<size_t>(keys), '0');
    for (int k = 0; k < keys; ++k) {
      if (sw->enabled("user-" + std::to_string(k))) values[static_cast<size_t>(k)] = '1';
    }
    auto info = registry.Get(sw->name());
    out["switches"][std::string(sw->name())] = {
        {"state", std::string(degrade::StateName(state.state))},
        {"allow", state.allow},
        {"layer", info.ok() ? std::string(degrade::LayerName(info->deciding_layer)) : ""},
        {"values", values},
    };
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
