// The remote layer's HTTP polling source (DESIGN section 5). Not installed.
//
// A PollStrategy (sources/source_runner.h): the runner owns the thread,
// start-up, deadlines, backoff, health, applying and the cache; this file
// only fetches. Each poll round tries the URLs in order, starting from the
// first (the primary) every time, and stops at the first that answers with
// a usable snapshot:
//   - 200: the body is parsed as a whole snapshot and handed to the runner,
//     which applies it to the remote layer (all or nothing) and caches it;
//   - 304 to our If-None-Match: the layer already holds that URL's snapshot;
//   - anything else (connection refused, the overall deadline passed, TLS
//     failure, another status, a body over the limit, invalid JSON, a wrong
//     type or value) is a failure of that URL: nothing changes, and the next
//     URL is tried at once.
// Every request has one overall deadline, `timeout`, from the start of the
// connect to the last body byte: a server that drips its status line, its
// headers or its body is abandoned at the deadline (the runner's supervisor
// calls Client::stop()), and the next URL is tried.
// After a successful round the next one starts after `interval` +-10%. After
// a round where every URL failed, the wait is BackoffDelay() +-20%, growing
// with each failed round until one succeeds.
//
// Reporting: health as "remote" (target: the URL that answered, or every URL
// after a failed round; consecutive_failures counts failed rounds; unhealthy
// from the moment a request passes its deadline). Each URL's distinct error
// is logged once at kError, naming the URL and the reason, until that URL
// answers again. The cache's health is registered as "cache".
#ifndef DEGRADE_LIB_HTTP_SOURCE_H_
#define DEGRADE_LIB_HTTP_SOURCE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/flagd.h"
#include "degrade/registry.h"
#include "sources/source_runner.h"

namespace degrade::internal {

// Backoff after `failed_rounds` (>= 1) consecutive rounds in which every URL
// failed, before jitter: min(interval / 4, 500 ms) doubled per further failed
// round, capped at max(interval, min(6 * interval, 60 s)). For the default
// 5 s interval: 0.5, 1, 2, 4, 8, 16, 30, 30, ... seconds. The first retry
// comes sooner than a normal poll, so a blip is ridden out quickly; a long
// outage settles at a few times the interval (never below it), so a fleet
// does not hammer a control plane that is coming back.
absl::Duration BackoffDelay(absl::Duration interval, int64_t failed_rounds);

// "https://host:8443/degrade/snapshot.json?x=1" -> origin
// "https://host:8443", target "/degrade/snapshot.json?x=1" (a fragment is
// dropped, an empty path becomes "/"). InvalidArgument for a scheme other
// than http or https, a missing host, or user info ("user@host").
struct SplitUrlResult {
  std::string origin;
  std::string target;
};
absl::StatusOr<SplitUrlResult> SplitUrl(std::string_view url);

// One GET as the HTTP source sends it.
struct HttpGet {
  std::string url;     // as configured
  std::string origin;  // SplitUrl's parts
  std::string path;
  std::string source;  // "remote <url>": every error message starts with it
  std::vector<std::pair<std::string, std::string>> headers;  // If-None-Match, ...
};

// What came back: a complete response with status 200 or 304.
struct HttpReply {
  int status = 0;
  std::string etag;  // empty when none
  std::string body;  // 200 only
};

// How the HTTP source talks to servers. Injectable (HttpSourceConfig::
// transport) so a test can script replies; the default is cpp-httplib.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Sends `get` and reads the whole answer within one overall deadline
  // armed on `ctx` (RunContext::Arm, budget: the config's timeout), the body
  // limit enforced while it streams. Errors, each message starting with
  // get.source and naming what failed: DeadlineExceeded (the deadline
  // passed: which part was missing), Unavailable (refused, closed early,
  // TLS, a status other than 200 or 304, a body over the limit), Cancelled
  // (the runner is stopping). Called on the runner's loop thread only.
  virtual absl::StatusOr<HttpReply> Get(RunContext& ctx, const HttpGet& get) = 0;
};

struct HttpSourceConfig {
  std::vector<std::string> urls;  // tried in order, the first preferred
  absl::Duration interval = absl::Seconds(5);
  // Overall deadline of one request: connect, status line, headers and
  // body together.
  absl::Duration timeout = absl::Seconds(2);
  size_t max_body_bytes = size_t{1} << 20;  // after decompression
  std::string ca_file;                      // https: CA bundle; empty: system's
  bool verify_tls = true;
  std::string cache_file;  // last-known-good cache; empty: none
  std::shared_ptr<HttpTransport> transport;  // nullptr: cpp-httplib
  // How bodies are read (core/flagd.h; kAuto: flagd when a body is
  // unambiguously a flagd file).
  SnapshotFormat format = SnapshotFormat::kAuto;
};

// InvalidArgument, naming the option and value, for no URLs, a URL that
// SplitUrl rejects, a non-positive interval or timeout, a zero body limit,
// or an https URL in a build without OpenSSL.
absl::Status ValidateHttpSource(const HttpSourceConfig& config);

// The longest the runner's constructor waits for the first round before it
// applies the cache and returns: urls x timeout, plus 500 ms for the rest.
absl::Duration HttpStartupBudget(const HttpSourceConfig& config);

// Starts the source: the first round runs before this returns (for at most
// HttpStartupBudget), then polling goes on in the background until the
// runner is destroyed. `config` must pass ValidateHttpSource.
// `clock`: the runner's monotonic clock; nullptr: the real one.
std::unique_ptr<SourceRunner> StartHttpSource(Registry& registry, HttpSourceConfig config,
                                              MonotonicClock* clock = nullptr);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_HTTP_SOURCE_H_
