// HTTP polling source. See http_source.h for the behaviour.
//
// Why the first URL is preferred on every round, rather than staying on the
// one that last answered: the URLs are listed in order of preference (the
// primary region first), and an operator who fixes the primary expects its
// snapshot to win again without restarting anything. The cost is one failed
// request per round while the primary is down; a refused connection costs
// nothing, a black-holed one costs up to `timeout` per round.
//
// Why If-None-Match is sent only to the URL whose body the layer holds: two
// regions may serve different snapshots under the same ETag (or the layer may
// hold the cache). A 304 from a URL means "you already have *my* version",
// which is only true of the URL we last applied.
#include "sources/http_source.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sources/lkg_cache.h"

namespace degrade::internal {
namespace {

constexpr absl::Duration kBackoffFirstMax = absl::Milliseconds(500);
constexpr absl::Duration kBackoffCapMax = absl::Seconds(60);
constexpr int64_t kBackoffCapIntervals = 6;
constexpr double kIntervalJitter = 0.10;
constexpr double kBackoffJitter = 0.20;

std::string ToStd(absl::string_view s) { return std::string(s.data(), s.size()); }

}  // namespace

absl::Duration BackoffDelay(absl::Duration interval, int64_t failed_rounds) {
  const absl::Duration cap =
      std::max(interval, std::min(interval * kBackoffCapIntervals, kBackoffCapMax));
  absl::Duration d = std::min(interval / 4, kBackoffFirstMax);
  for (int64_t i = 1; i < failed_rounds && d < cap; ++i) d *= 2;
  return std::min(d, cap);
}

absl::Duration Jittered(absl::Duration d, double spread, double u) {
  return d * (1.0 + spread * (2.0 * u - 1.0));
}

absl::StatusOr<SplitUrlResult> SplitUrl(std::string_view url) {
  const absl::string_view u(url.data(), url.size());
  absl::string_view rest;
  std::string scheme;
  if (absl::StartsWithIgnoreCase(u, "http://")) {
    scheme = "http";
    rest = u.substr(7);
  } else if (absl::StartsWithIgnoreCase(u, "https://")) {
    scheme = "https";
    rest = u.substr(8);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", u, "\" is not an http:// or https:// URL; accepted: http(s)://host[:port]/path"));
  }
  const size_t end = rest.find_first_of("/?#");
  const absl::string_view authority = rest.substr(0, end);
  if (authority.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", u, "\" has no host"));
  }
  if (absl::StrContains(authority, '@')) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", u, "\" has user info (user@host), which is not supported"));
  }
  SplitUrlResult out;
  out.origin = absl::StrCat(scheme, "://", authority);
  absl::string_view target = end == absl::string_view::npos ? "" : rest.substr(end);
  target = target.substr(0, target.find('#'));
  out.target = target.empty() || target[0] != '/' ? absl::StrCat("/", target) : ToStd(target);
  return out;
}

absl::Status HttpSource::Validate(const Config& config) {
  if (config.urls.empty()) {
    return absl::InvalidArgumentError("remote_urls is empty; accepted: one or more URLs");
  }
  for (const std::string& url : config.urls) {
    absl::StatusOr<SplitUrlResult> split = SplitUrl(url);
    if (!split.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("remote_urls: ", split.status().message()));
    }
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
    if (absl::StartsWithIgnoreCase(split->origin, "https:")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "remote_urls: \"", url, "\" needs https, but cpp-httplib was built without OpenSSL"));
    }
#endif
  }
  if (config.interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("remote_interval ", absl::FormatDuration(config.interval),
                     " is not positive; accepted: a positive duration (default 5s)"));
  }
  if (config.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("remote_timeout ", absl::FormatDuration(config.timeout),
                     " is not positive; accepted: a positive duration (default 2s)"));
  }
  if (config.max_body_bytes == 0) {
    return absl::InvalidArgumentError(
        "remote_max_body_bytes is 0; accepted: a positive number of bytes (default 1 MiB)");
  }
  return absl::OkStatus();
}

HttpSource::HttpSource(Registry& registry, Config config)
    : registry_(registry),
      config_(std::move(config)),
      cache_(registry, config_.cache_file) {
  for (const std::string& url : config_.urls) {
    absl::StatusOr<SplitUrlResult> split = SplitUrl(url);
    Target t;
    t.url = url;
    if (split.ok()) {  // Validate ran; an invalid URL fails each request instead
      t.origin = std::move(split->origin);
      t.path = std::move(split->target);
    }
    t.source = absl::StrCat("remote ", url);
    targets_.push_back(std::move(t));
  }
  // Not std::random_device: it may throw. Jitter needs spread, not secrecy.
  const auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
  std::seed_seq seed{static_cast<uint64_t>(ticks),
                     static_cast<uint64_t>(reinterpret_cast<uintptr_t>(this))};
  rng_.seed(seed);

  health_.name = "remote";
  health_.target = absl::StrJoin(config_.urls, ", ");
  health_.healthy = false;

  if (!PollRound()) cache_.ApplyAtStart("no remote URL answered at start");
  thread_ = std::thread([this] { Loop(); });
}

HttpSource::~HttpSource() {
  std::unique_lock<std::mutex> lock(mu_);
  stop_ = true;
  cv_.notify_all();
  // A request may be between registering itself and opening its socket, when
  // stop() has nothing to shut down yet: keep stopping until the thread
  // leaves.
  while (!exited_) {
    if (active_ != nullptr) active_->stop();
    cv_.wait_for(lock, std::chrono::milliseconds(5));
  }
  lock.unlock();
  thread_.join();
}

HttpSource::Outcome HttpSource::Fetch(size_t index, std::string* error) {
  Target& t = targets_[index];
  httplib::Client client(t.origin);
  if (!client.is_valid()) {
    *error = absl::StrCat(t.source, ": not a URL this client can open");
    return Outcome::kFailed;
  }
  const auto timeout = absl::ToChronoMicroseconds(config_.timeout);
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  client.set_keep_alive(false);
  client.set_follow_location(false);
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
  client.enable_server_certificate_verification(config_.verify_tls);
  if (!config_.ca_file.empty()) client.set_ca_cert_path(config_.ca_file);
#endif

  httplib::Headers headers = {{"Accept", "application/json"},
                              {"User-Agent", "degrade-http-source"}};
  const bool conditional = applied_from_ == index && !applied_etag_.empty();
  if (conditional) headers.emplace("If-None-Match", applied_etag_);

  int status = 0;
  std::string etag;
  std::string body;
  std::string reason;  // set when we abandon the response ourselves
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout;
  const size_t limit = config_.max_body_bytes;
  auto on_response = [&](const httplib::Response& r) {
    status = r.status;
    etag = r.get_header_value("ETag");
    if (status == 304) return true;
    if (status != 200) {
      reason = absl::StrCat("HTTP ", status, "; accepted: 200, or 304 to If-None-Match");
      return false;
    }
    // Refuse a declared oversize body before reading any of it. With a
    // Content-Encoding the header counts compressed bytes: the receiver
    // below enforces the limit on what is actually decoded.
    if (r.has_header("Content-Length") && !r.has_header("Content-Encoding")) {
      uint64_t declared = 0;
      if (absl::SimpleAtoi(r.get_header_value("Content-Length"), &declared) &&
          declared > limit) {
        reason = absl::StrCat("body of ", declared, " bytes (Content-Length) is larger than the ",
                              "limit of ", limit, " bytes");
        return false;
      }
    }
    return true;
  };
  // Enforced while streaming: a chunked or close-delimited body, or one whose
  // Content-Length lies, is cut at the limit, not downloaded first.
  auto on_data = [&](const char* data, size_t n) {
    if (n > limit - body.size()) {
      reason = absl::StrCat("body is larger than the limit of ", limit, " bytes");
      return false;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      reason = absl::StrCat("timed out: body still arriving after ",
                            absl::FormatDuration(config_.timeout));
      return false;
    }
    body.append(data, n);
    return true;
  };

  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return Outcome::kStopped;
    active_ = &client;
  }
  // Unregisters the client before it is destroyed, on every path out
  // (unwinding included), so the destructor never stops a dead client.
  struct Unregister {
    HttpSource* self;
    ~Unregister() {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->active_ = nullptr;
    }
  };
  bool stopping = false;
  httplib::Result result = [&] {
    Unregister unregister{this};
    return client.Get(t.path, headers, on_response, on_data);
  }();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping = stop_;
  }
  if (stopping) return Outcome::kStopped;

  if (!result) {
    if (!reason.empty()) {
      *error = absl::StrCat(t.source, ": ", reason);
      return Outcome::kFailed;
    }
    const std::string limit_text = absl::FormatDuration(config_.timeout);
    // A read that hit the timeout and a connection closed early are both
    // Error::Read; the time spent tells them apart.
    const bool timed_out = elapsed >= timeout * 9 / 10;
    std::string what;
    switch (result.error()) {
      case httplib::Error::Connection:
        what = timed_out ? absl::StrCat("timed out connecting (limit ", limit_text, ")")
                         : "cannot connect (connection refused or host unreachable)";
        break;
      case httplib::Error::ConnectionTimeout:
        what = absl::StrCat("timed out connecting (limit ", limit_text, ")");
        break;
      case httplib::Error::Read:
        what = timed_out ? absl::StrCat("timed out: no response within ", limit_text)
                         : "connection closed before a complete response";
        break;
      case httplib::Error::Write:
        what = "cannot send the request (connection closed)";
        break;
      case httplib::Error::SSLConnection:
        what = "TLS handshake failed";
        break;
      case httplib::Error::SSLLoadingCerts:
        what = absl::StrCat("cannot load CA certificates",
                            config_.ca_file.empty() ? std::string(" (system store)")
                                                    : absl::StrCat(" from ", config_.ca_file));
        break;
      case httplib::Error::SSLServerVerification:
        what = config_.ca_file.empty()
                   ? "TLS certificate verification failed against the system CA store; set "
                     "remote_ca_file to the CA that signed the server's certificate"
                   : absl::StrCat("TLS certificate verification failed against ", config_.ca_file);
        break;
      default:
        what = absl::StrCat("request failed: ", httplib::to_string(result.error()));
        break;
    }
    *error = absl::StrCat(t.source, ": ", what);
    return Outcome::kFailed;
  }

  if (status == 304) {
    if (!conditional) {
      *error = absl::StrCat(t.source, ": HTTP 304 to a request without If-None-Match");
      return Outcome::kFailed;
    }
    return Outcome::kNotModified;
  }
  // The same bytes as the layer holds (from this URL or another): nothing to
  // apply. Not re-parsing also keeps ttl_s counting from when it was first
  // seen, for servers that send no ETag.
  if (applied_from_.has_value() && body == applied_body_) {
    applied_from_ = index;
    applied_etag_ = etag;
    return Outcome::kUnchanged;
  }
  std::vector<std::string> warnings;
  absl::StatusOr<Snapshot> parsed =
      ParseSnapshot(body, t.source, registry_.clock().Now(), &warnings);
  if (!parsed.ok()) {
    *error = ToStd(parsed.status().message());
    return Outcome::kFailed;
  }
  for (const std::string& w : warnings) registry_.Log(LogLevel::kWarning, w);
  Snapshot copy = *parsed;
  const size_t switches = copy.switches.size(), groups = copy.groups.size();
  if (absl::Status s = registry_.ApplySnapshot(Layer::kRemote, *std::move(parsed), t.source);
      !s.ok()) {
    *error = ToStd(s.message());
    return Outcome::kFailed;
  }
  applied_from_ = index;
  applied_body_ = std::move(body);
  applied_etag_ = std::move(etag);
  registry_.Log(LogLevel::kInfo, absl::StrCat(t.source, ": applied (", switches, " switches, ",
                                              groups, " groups)"));
  cache_.Save(copy);
  return Outcome::kApplied;
}

HttpSource::Outcome HttpSource::FetchOrInternalError(size_t index, std::string* error) {
  // Nothing below should throw (no exceptions in our parsing; httplib
  // reports through Result), but an allocation failure or a library surprise
  // must not end the process from a background thread.
  try {
    return Fetch(index, error);
  } catch (const std::exception& e) {
    *error = absl::StrCat(targets_[index].source, ": internal error: ", e.what());
  } catch (...) {
    *error = absl::StrCat(targets_[index].source, ": internal error");
  }
  std::lock_guard<std::mutex> lock(mu_);
  return stop_ ? Outcome::kStopped : Outcome::kFailed;
}

bool HttpSource::PollRound() {
  std::vector<std::string> errors;
  for (size_t i = 0; i < targets_.size(); ++i) {
    Target& t = targets_[i];
    std::string error;
    const Outcome outcome = FetchOrInternalError(i, &error);
    if (outcome == Outcome::kStopped) return false;  // shutting down: report nothing
    const absl::Time now = registry_.clock().Now();
    if (outcome == Outcome::kFailed) {
      if (error != t.last_error) {
        t.last_error = error;
        registry_.Log(LogLevel::kError,
                      absl::StrCat(error, "; the remote layer keeps its last good state"));
      }
      errors.push_back(std::move(error));
      continue;
    }
    if (!t.last_error.empty()) {
      t.last_error.clear();
      registry_.Log(LogLevel::kInfo, absl::StrCat(t.source, ": answers again"));
    }
    health_.target = t.url;
    health_.healthy = true;
    health_.consecutive_failures = 0;
    health_.last_success = now;
    if (!errors.empty()) {  // the preferred URLs failed this round
      health_.last_error = absl::StrJoin(errors, "; ");
      health_.last_error_time = now;
    }
    if (outcome == Outcome::kApplied) ++health_.applied;
    registry_.ReportSourceHealth(health_);
    return true;
  }
  health_.target = absl::StrJoin(config_.urls, ", ");
  health_.healthy = false;
  health_.last_error = absl::StrJoin(errors, "; ");
  health_.last_error_time = registry_.clock().Now();
  ++health_.consecutive_failures;
  registry_.ReportSourceHealth(health_);
  return false;
}

absl::Duration HttpSource::NextWait() {
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  if (health_.consecutive_failures == 0) return Jittered(config_.interval, kIntervalJitter, u);
  return Jittered(BackoffDelay(config_.interval,
                               static_cast<int64_t>(health_.consecutive_failures)),
                  kBackoffJitter, u);
}

void HttpSource::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    const absl::Duration wait = NextWait();
    cv_.wait_for(lock, absl::ToChronoNanoseconds(wait), [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    PollRound();
    lock.lock();
  }
  exited_ = true;
  cv_.notify_all();
}

}  // namespace degrade::internal
