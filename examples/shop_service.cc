// shop_service: a small HTTP service whose essential endpoint must keep
// working while its non-essential dependencies misbehave.
//
//   export DEGRADE_ADMIN_ADDR=127.0.0.1:0 DEGRADE_ADMIN_TOKEN=$(openssl rand -hex 16)
//   shop_service --recommendations http://127.0.0.1:7001
//                --reviews http://127.0.0.1:7002 --analytics http://127.0.0.1:7003
//
// GET /checkout places an order (the essential part, computed locally) and
// decorates it with three optional parts, each from a dependency behind a
// degrade switch:
//   recommendations  "customers also bought"; fallback: the last good list
//   reviews          star ratings for the cart;  fallback: none
//   analytics        a funnel event;             fallback: dropped
// The answer says which parts were left out: {"order": {...}, ...,
// "degraded": ["recommendations"]}.
//
// Every dependency call has a short timeout (connect 200 ms, read 300 ms),
// and the service has a small fixed pool of workers (--threads, default 4),
// as real services do: so a *slow* dependency eats the pool, and checkout
// requests queue behind it. Turning the dependency's switch off
// (degradectl off recommendations) makes checkout fast again at once.
//
// The degrade runtime comes from the environment: DEGRADE_ADMIN_ADDR and
// DEGRADE_ADMIN_TOKEN (admin endpoint, for degradectl), DEGRADE_CONFIG_FILE,
// DEGRADE_<NAME>=off, and the rest of the README's table. Stops cleanly on
// SIGINT or SIGTERM.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "degrade/degrade.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "serve_util.h"

// The switches: one per non-essential dependency, with what the on-call
// engineer needs to know when deciding to turn it off.
DEGRADE_SWITCH_SPEC(kRecommendations,
                    {.name = "recommendations",
                     .description = "\"Customers also bought\" under the order; checkout "
                                    "shows the last good list, or none, without it.",
                     .owner = "team-discovery",
                     .groups = {"tier2"}});
DEGRADE_SWITCH_SPEC(kReviews, {.name = "reviews",
                               .description = "Star ratings next to the cart items; checkout "
                                              "works without them.",
                               .owner = "team-ugc",
                               .groups = {"tier2"}});
DEGRADE_SWITCH_SPEC(kAnalytics, {.name = "analytics",
                                 .description = "Checkout funnel events to the analytics "
                                                "vendor; losing some is acceptable.",
                                 .owner = "team-data",
                                 .groups = {"tier3"}});

namespace {

using nlohmann::json;

// A client for one dependency: GET <base>/ with short timeouts, errors as
// absl::Status (so degrade::Call falls back on them).
class DependencyClient {
 public:
  DependencyClient(std::string name, std::string base_url)
      : name_(std::move(name)), base_url_(std::move(base_url)) {}

  absl::StatusOr<json> Fetch() const {
    if (base_url_.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(name_, ": no URL configured"));
    }
    httplib::Client client(base_url_);
    client.set_connection_timeout(std::chrono::milliseconds(200));
    client.set_read_timeout(std::chrono::milliseconds(300));
    client.set_write_timeout(std::chrono::milliseconds(300));
    httplib::Result res = client.Get("/");
    if (!res) {
      return absl::UnavailableError(
          absl::StrCat(name_, ": GET ", base_url_, ": ", httplib::to_string(res.error())));
    }
    if (res->status != 200) {
      return absl::UnavailableError(
          absl::StrCat(name_, ": GET ", base_url_, " answered ", res->status));
    }
    json body = json::parse(res->body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object()) {
      return absl::DataLossError(absl::StrCat(name_, ": GET ", base_url_, ": not a JSON object"));
    }
    return body;
  }

 private:
  std::string name_;
  std::string base_url_;
};

class Shop {
 public:
  Shop(std::string recs_url, std::string reviews_url, std::string analytics_url)
      : recommendations_("recommendations", std::move(recs_url)),
        reviews_("reviews", std::move(reviews_url)),
        analytics_("analytics", std::move(analytics_url)) {}

  json Checkout() {
    const uint64_t n = ++orders_;
    // The essential part: computed here, never depends on anything optional.
    json response = {{"order",
                      {{"id", absl::StrCat("ord-", n)},
                       {"items", {"coffee-beans-1kg", "filter-papers"}},
                       {"total_cents", 2897},
                       {"status", "placed"}}}};
    std::vector<std::string> degraded;

    response["recommendations"] = degrade::Call(
        kRecommendations,
        [&]() -> absl::StatusOr<json> {
          absl::StatusOr<json> got = recommendations_.Fetch();
          if (!got.ok()) return got.status();
          json items = (*got)["items"];
          std::lock_guard<std::mutex> lock(mu_);
          last_recommendations_ = items;
          return items;
        },
        [&] {
          degraded.push_back("recommendations");
          std::lock_guard<std::mutex> lock(mu_);
          return last_recommendations_;  // the last good list, or []
        });

    response["reviews"] = degrade::Call(
        kReviews,
        [&]() -> absl::StatusOr<json> {
          absl::StatusOr<json> got = reviews_.Fetch();
          if (!got.ok()) return got.status();
          return json{{"rating", 4.6}, {"from", (*got)["items"]}};
        },
        [&] {
          degraded.push_back("reviews");
          return json(nullptr);
        });

    const absl::Status recorded = degrade::Call(
        kAnalytics, [&]() -> absl::Status { return analytics_.Fetch().status(); },
        [&] {
          degraded.push_back("analytics");
          return absl::OkStatus();
        });
    (void)recorded;  // the fallback drops the event: nothing to report

    response["degraded"] = degraded;
    return response;
  }

 private:
  DependencyClient recommendations_;
  DependencyClient reviews_;
  DependencyClient analytics_;
  std::atomic<uint64_t> orders_{0};
  std::mutex mu_;
  json last_recommendations_ = json::array();  // guarded by mu_
};

void Usage() {
  std::fprintf(stderr,
               "usage: shop_service [--port PORT] [--threads N] --recommendations URL "
               "--reviews URL --analytics URL\n"
               "  degrade settings come from the environment (DEGRADE_ADMIN_ADDR, "
               "DEGRADE_ADMIN_TOKEN, DEGRADE_CONFIG_FILE, DEGRADE_<NAME>, ...)\n");
}

}  // namespace

int main(int argc, char** argv) {
  demo::BlockStopSignals();
  int port = 0;
  int threads = 4;
  std::string recs, reviews, analytics;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) {
      Usage();
      return 2;
    }
    const std::string value = argv[++i];
    if (arg == "--port") {
      port = std::atoi(value.c_str());
    } else if (arg == "--threads") {
      threads = std::atoi(value.c_str());
    } else if (arg == "--recommendations") {
      recs = value;
    } else if (arg == "--reviews") {
      reviews = value;
    } else if (arg == "--analytics") {
      analytics = value;
    } else {
      Usage();
      return 2;
    }
  }
  if (threads < 1 || threads > 256) {
    Usage();
    return 2;
  }

  // Change events as JSON lines on stderr: the service's own audit trail.
  degrade::Registry::Global().SetLogChanges(true);
  absl::StatusOr<std::unique_ptr<degrade::Runtime>> runtime = degrade::Runtime::FromEnv();
  if (!runtime.ok()) {
    std::fprintf(stderr, "shop_service: degrade runtime: %s\n",
                 std::string(runtime.status().message()).c_str());
    return 1;
  }

  Shop shop(recs, reviews, analytics);
  httplib::Server http;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.Get("/checkout", [&shop](const httplib::Request&, httplib::Response& res) {
    res.set_content(shop.Checkout().dump(), "application/json");
  });
  http.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  demo::LoopbackServer server(http);
  const int bound = server.Start(port);
  if (bound < 0) {
    std::fprintf(stderr, "shop_service: cannot listen on 127.0.0.1:%d\n", port);
    return 1;
  }
  std::printf("shop_service: listening on http://127.0.0.1:%d (GET /checkout), %d workers\n", bound,
              threads);
  if (const int admin = (*runtime)->admin_port(); admin != 0) {
    std::printf("shop_service: admin endpoint on http://127.0.0.1:%d\n", admin);
  } else {
    std::printf("shop_service: admin endpoint off (set DEGRADE_ADMIN_ADDR=127.0.0.1:PORT)\n");
  }
  std::fflush(stdout);

  const int sig = demo::WaitForStopSignal();
  server.Stop();     // no request in flight after this
  runtime->reset();  // stops the admin endpoint and the sources
  std::printf("shop_service: stopped (%s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  return 0;
}
