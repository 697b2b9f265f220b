// fake_dependency: a stand-in for a non-essential dependency (a
// recommendations service, a reviews API, an analytics vendor) that can be
// told to fail or to be slow, for the demo and the tests.
//
//   fake_dependency --name recommendations [--port 0]
//
// Prints "fake_dependency recommendations: listening on http://127.0.0.1:PORT"
// once it accepts connections (PORT 0 picks a free one). Routes:
//   GET  /                  ok: 200 {"from": NAME, "items": [...]}
//                           fail: 503 {"error": ...}
//                           slow: waits delay_ms, then answers as ok
//   POST /control?mode=ok|fail|slow[&delay_ms=N]
//                           switches mode; answers {"mode":..., "delay_ms":...}
//   GET  /control           the current mode
// Stops cleanly on SIGINT or SIGTERM.
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "httplib.h"
#include "nlohmann/json.hpp"
#include "serve_util.h"

namespace {

enum class Mode { kOk, kFail, kSlow };

const char* ModeName(Mode m) {
  switch (m) {
    case Mode::kOk:
      return "ok";
    case Mode::kFail:
      return "fail";
    case Mode::kSlow:
      return "slow";
  }
  return "?";
}

class FakeDependency {
 public:
  explicit FakeDependency(std::string name) : name_(std::move(name)) {
    // Bounded: at most this many requests run at once, the rest wait in
    // cpp-httplib's queue. Slow mode holds a thread per request, like a real
    // sick dependency does.
    server_.new_task_queue = [] { return new httplib::ThreadPool(16); };
    server_.Get("/", [this](const httplib::Request&, httplib::Response& res) { Serve(res); });
    server_.Post("/control", [this](const httplib::Request& req, httplib::Response& res) {
      Control(req, res);
    });
    server_.Get("/control", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(State().dump(), "application/json");
    });
  }

  httplib::Server& server() { return server_; }

  // Ends the waits of slow requests so that the server can stop at once.
  void WakeAll() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
  }

 private:
  nlohmann::json State() {
    return {
        {"dependency", name_}, {"mode", ModeName(mode_.load())}, {"delay_ms", delay_ms_.load()}};
  }

  void Serve(httplib::Response& res) {
    const Mode mode = mode_.load();
    if (mode == Mode::kFail) {
      res.status = 503;
      res.set_content(nlohmann::json{{"error", name_ + " is down (fake)"}}.dump(),
                      "application/json");
      return;
    }
    if (mode == Mode::kSlow) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(delay_ms_.load()), [this] { return stopping_; });
    }
    const uint64_t n = ++served_;
    res.set_content(nlohmann::json{{"from", name_},
                                   {"items",
                                    {name_ + "-" + std::to_string(n % 97),
                                     name_ + "-" + std::to_string((n + 31) % 97),
                                     name_ + "-" + std::to_string((n + 62) % 97)}}}
                        .dump(),
                    "application/json");
  }

  void Control(const httplib::Request& req, httplib::Response& res) {
    const std::string mode = req.get_param_value("mode");
    const std::string delay = req.get_param_value("delay_ms");
    Mode m;
    if (mode == "ok") {
      m = Mode::kOk;
    } else if (mode == "fail") {
      m = Mode::kFail;
    } else if (mode == "slow") {
      m = Mode::kSlow;
    } else {
      res.status = 400;
      res.set_content(R"({"error": "mode must be ok, fail or slow"})", "application/json");
      return;
    }
    if (!delay.empty()) {
      char* end = nullptr;
      const long ms = std::strtol(delay.c_str(), &end, 10);
      if (*end != '\0' || ms < 0 || ms > 60000) {
        res.status = 400;
        res.set_content(R"({"error": "delay_ms must be 0..60000"})", "application/json");
        return;
      }
      delay_ms_ = static_cast<int>(ms);
    }
    mode_ = m;
    res.set_content(State().dump(), "application/json");
  }

  const std::string name_;
  httplib::Server server_;
  std::atomic<Mode> mode_{Mode::kOk};
  std::atomic<int> delay_ms_{1000};
  std::atomic<uint64_t> served_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
};

}  // namespace

int main(int argc, char** argv) {
  demo::BlockStopSignals();
  std::string name = "dependency";
  int port = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--name" && i + 1 < argc) {
      name = argv[++i];
    } else if (arg == "--port" && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: fake_dependency --name NAME [--port PORT]\n");
      return 2;
    }
  }
  FakeDependency dep(name);
  demo::LoopbackServer server(dep.server());
  const int bound = server.Start(port);
  if (bound < 0) {
    std::fprintf(stderr, "fake_dependency %s: cannot listen on 127.0.0.1:%d\n", name.c_str(), port);
    return 1;
  }
  std::printf("fake_dependency %s: listening on http://127.0.0.1:%d\n", name.c_str(), bound);
  std::fflush(stdout);

  const int sig = demo::WaitForStopSignal();
  dep.WakeAll();
  server.Stop();
  std::printf("fake_dependency %s: stopped (%s)\n", name.c_str(),
              sig == SIGINT ? "SIGINT" : "SIGTERM");
  return 0;
}
