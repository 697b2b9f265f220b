// OFREP bulk evaluation (lib/admin/ofrep.h) over a registry of 1,000
// switches: what one request costs the server, and what it costs end to end.
//
//   <builddir>/bench/ofrep_benchmark [--benchmark_filter=...]
//
// Server time: OfrepRoutes::Handle called directly with a parsed request, so
// the figure is the route's own work (body parse, table, evaluation, JSON),
// without sockets or the HTTP parser:
//   BM_BulkServer/1000           200 with every flag, the table cached
//   BM_BulkServerAfterChange/1000  200 right after a change: the table is
//                                rebuilt from Registry::List each time
//   BM_NotModifiedServer/1000    304 to a matching If-None-Match (target:
//                                well under 100 us)
// End to end: a cpp-httplib client over loopback to the real admin server
// (keep-alive), client time included:
//   BM_BulkHttp/1000, BM_NotModifiedHttp/1000
// 100 of the switches are dimmed (allow 0.3), so the targetingKey matters.
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "admin/admin_config.h"
#include "admin/admin_server.h"
#include "admin/ofrep.h"
#include "benchmark/benchmark.h"
#include "degrade/registry.h"
#include "httplib.h"

namespace {

using degrade::internal::AdminConfig;
using degrade::internal::OfrepRoutes;

constexpr char kBody[] = R"({"context": {"targetingKey": "user-1234"}})";

std::unique_ptr<degrade::Registry> MakeRegistry(int switches) {
  degrade::Registry::Options o;
  o.getenv = [](std::string_view) { return std::optional<std::string>(); };
  o.log_sink = [](degrade::LogLevel, std::string_view) {};
  auto registry = std::make_unique<degrade::Registry>(std::move(o));
  for (int i = 0; i < switches; ++i) {
    const std::string name = absl::StrCat("dependency-", i);
    if (!registry->Define({.name = name, .description = "a benchmark switch"}).ok()) std::abort();
    if (i % 10 == 0) {
      degrade::SwitchValue dimmed;
      dimmed.allow = 0.3;
      if (!registry->SetOverride(name, dimmed).ok()) std::abort();
    }
  }
  return registry;
}

httplib::Request BulkRequest() {
  httplib::Request req;
  req.method = "POST";
  req.path = std::string(OfrepRoutes::kBulkPath);
  req.body = kBody;
  req.set_header("Content-Type", "application/json");
  return req;
}

void BM_BulkServer(benchmark::State& state) {
  auto registry = MakeRegistry(static_cast<int>(state.range(0)));
  AdminConfig config;
  OfrepRoutes routes(*registry, config);
  const httplib::Request req = BulkRequest();
  for (auto _ : state) {
    httplib::Response res;
    routes.Handle(req, res);
    if (res.status != 200) state.SkipWithError("not 200");
    benchmark::DoNotOptimize(res.body.data());
  }
}
BENCHMARK(BM_BulkServer)->Arg(1000)->Unit(benchmark::kMicrosecond);

void BM_BulkServerAfterChange(benchmark::State& state) {
  auto registry = MakeRegistry(static_cast<int>(state.range(0)));
  AdminConfig config;
  OfrepRoutes routes(*registry, config);
  const httplib::Request req = BulkRequest();
  bool off = false;
  for (auto _ : state) {
    state.PauseTiming();
    off = !off;
    degrade::SwitchValue v;
    v.state = off ? degrade::State::kOff : degrade::State::kOn;
    if (!registry->SetOverride("dependency-1", v).ok()) std::abort();
    state.ResumeTiming();
    httplib::Response res;
    routes.Handle(req, res);
    if (res.status != 200) state.SkipWithError("not 200");
    benchmark::DoNotOptimize(res.body.data());
  }
}
BENCHMARK(BM_BulkServerAfterChange)->Arg(1000)->Unit(benchmark::kMicrosecond);

void BM_NotModifiedServer(benchmark::State& state) {
  auto registry = MakeRegistry(static_cast<int>(state.range(0)));
  AdminConfig config;
  OfrepRoutes routes(*registry, config);
  httplib::Request req = BulkRequest();
  httplib::Response first;
  routes.Handle(req, first);
  req.set_header("If-None-Match", first.get_header_value("ETag"));
  for (auto _ : state) {
    httplib::Response res;
    routes.Handle(req, res);
    if (res.status != 304) state.SkipWithError("not 304");
  }
}
BENCHMARK(BM_NotModifiedServer)->Arg(1000)->Unit(benchmark::kMicrosecond);

struct Served {
  std::unique_ptr<degrade::Registry> registry;
  std::unique_ptr<degrade::internal::AdminServer> server;
  std::unique_ptr<httplib::Client> client;
};

Served Serve(int switches) {
  Served s;
  s.registry = MakeRegistry(switches);
  AdminConfig config;
  config.addr = "127.0.0.1:0";
  config.keep_alive_max_requests = 1'000'000;
  auto server = degrade::internal::AdminServer::Start(*s.registry, config);
  if (!server.ok()) std::abort();
  s.server = *std::move(server);
  s.client = std::make_unique<httplib::Client>("127.0.0.1", s.server->port());
  s.client->set_keep_alive(true);
  s.client->set_tcp_nodelay(true);
  return s;
}

void BM_BulkHttp(benchmark::State& state) {
  Served s = Serve(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto r = s.client->Post(std::string(OfrepRoutes::kBulkPath), kBody, "application/json");
    if (!r || r->status != 200) state.SkipWithError("not 200");
  }
}
BENCHMARK(BM_BulkHttp)->Arg(1000)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_NotModifiedHttp(benchmark::State& state) {
  Served s = Serve(static_cast<int>(state.range(0)));
  auto first = s.client->Post(std::string(OfrepRoutes::kBulkPath), kBody, "application/json");
  if (!first) std::abort();
  const httplib::Headers headers = {{"If-None-Match", first->get_header_value("ETag")}};
  for (auto _ : state) {
    auto r = s.client->Post(std::string(OfrepRoutes::kBulkPath), headers, kBody,
                            "application/json");
    if (!r || r->status != 304) state.SkipWithError("not 304");
  }
}
BENCHMARK(BM_NotModifiedHttp)->Arg(1000)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
