// The remote layer's HTTP polling source (DESIGN section 5). Not installed.
//
// One background thread polls a list of URLs. Each poll round tries the URLs
// in order, starting from the first (the primary) every time, and stops at the
// first that answers with a usable snapshot:
//   - 200: the body is parsed as a whole snapshot and applied to the remote
//     layer (all or nothing), then written to the last-known-good cache;
//   - 304 to our If-None-Match: the layer already holds that URL's snapshot;
//   - anything else (connection refused, timeout, TLS failure, another
//     status, a body over the limit, invalid JSON, a wrong type or value) is
//     a failure of that URL: nothing changes, and the next URL is tried at
//     once.
// After a successful round the next one starts after `interval` +-10%. After
// a round where every URL failed, the wait is BackoffDelay() +-20%, growing
// with each failed round until one succeeds.
//
// Reporting: the source's health is registered as "remote" (target: the URL
// that answered, or every URL after a failed round; consecutive_failures
// counts failed rounds). Each URL's distinct error is logged once at kError,
// naming the URL and the reason, until that URL answers again. The cache's
// health is registered as "cache".
//
// Thread safety: constructed and destroyed by one thread (the runtime's);
// all other work happens on the source's own thread.
#ifndef DEGRADE_LIB_HTTP_SOURCE_H_
#define DEGRADE_LIB_HTTP_SOURCE_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "degrade/registry.h"
#include "sources/lkg_cache.h"

namespace httplib {
class Client;
}

namespace degrade::internal {

// Backoff after `failed_rounds` (>= 1) consecutive rounds in which every URL
// failed, before jitter: min(interval / 4, 500 ms) doubled per further failed
// round, capped at max(interval, min(6 * interval, 60 s)). For the default
// 5 s interval: 0.5, 1, 2, 4, 8, 16, 30, 30, ... seconds. The first retry
// comes sooner than a normal poll, so a blip is ridden out quickly; a long
// outage settles at a few times the interval (never below it), so a fleet
// does not hammer a control plane that is coming back.
absl::Duration BackoffDelay(absl::Duration interval, int64_t failed_rounds);

// `d` scaled by a factor uniform in [1 - spread, 1 + spread), given `u`
// uniform in [0, 1).
absl::Duration Jittered(absl::Duration d, double spread, double u);

// "https://host:8443/degrade/snapshot.json?x=1" -> origin
// "https://host:8443", target "/degrade/snapshot.json?x=1" (a fragment is
// dropped, an empty path becomes "/"). InvalidArgument for a scheme other
// than http or https, a missing host, or user info ("user@host").
struct SplitUrlResult {
  std::string origin;
  std::string target;
};
absl::StatusOr<SplitUrlResult> SplitUrl(std::string_view url);

class HttpSource {
 public:
  struct Config {
    std::vector<std::string> urls;  // tried in order, the first preferred
    absl::Duration interval = absl::Seconds(5);
    // Connect timeout, and timeout of each read; a body still arriving after
    // this much time since the request started is abandoned.
    absl::Duration timeout = absl::Seconds(2);
    size_t max_body_bytes = size_t{1} << 20;  // after decompression
    std::string ca_file;                      // https: CA bundle; empty: system's
    bool verify_tls = true;
    std::string cache_file;  // last-known-good cache; empty: none
  };

  // InvalidArgument, naming the option and value, for no URLs, a URL that
  // SplitUrl rejects, a non-positive interval or timeout, a zero body limit,
  // or an https URL in a build without OpenSSL.
  static absl::Status Validate(const Config& config);

  // Runs one poll round before returning, so the remote layer is in place
  // when Runtime::Start returns; when no URL gives a usable snapshot and
  // cache_file is set, applies the cache instead (source "cache <path>").
  // This may block for about urls.size() * timeout when every server is
  // unreachable by timeout (a refused connection fails at once). Then starts
  // the polling thread. `config` must pass Validate.
  HttpSource(Registry& registry, Config config);
  // Stops the thread promptly: interrupts a pending request (Client::stop)
  // rather than waiting for its timeout, and joins.
  ~HttpSource();

  HttpSource(const HttpSource&) = delete;
  HttpSource& operator=(const HttpSource&) = delete;

 private:
  enum class Outcome { kApplied, kNotModified, kUnchanged, kFailed, kStopped };
  struct Target {
    std::string url;
    std::string origin;
    std::string path;
    std::string source;      // "remote <url>", prefixes every message
    std::string last_error;  // logged already; cleared when it answers
  };

  Outcome Fetch(size_t index, std::string* error);
  Outcome FetchOrInternalError(size_t index, std::string* error);
  // True when some URL gave a usable answer.
  bool PollRound();
  absl::Duration NextWait();
  void Loop();

  Registry& registry_;
  const Config config_;
  std::vector<Target> targets_;

  // Only the constructor (before the thread starts) and the thread touch
  // these.
  std::optional<size_t> applied_from_;  // URL whose body the layer holds
  std::string applied_body_;
  std::string applied_etag_;
  SourceHealth health_;
  LkgCacheKeeper cache_;
  std::mt19937_64 rng_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                  // guarded by mu_
  bool exited_ = false;                // guarded by mu_
  httplib::Client* active_ = nullptr;  // guarded by mu_; the request in flight
  std::thread thread_;
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_HTTP_SOURCE_H_
