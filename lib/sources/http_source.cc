// HTTP polling source. See http_source.h for the behaviour.
//
// Why the first URL is preferred on every round, rather than staying on the
// one that last answered: the URLs are listed in order of preference (the
// primary region first), and an operator who fixes the primary expects its
// snapshot to win again without restarting anything. The cost is one failed
// request per round while the primary is down; a refused connection costs
// nothing, a black-holed one costs up to `timeout` per round.
//
// Why one overall deadline per request and not cpp-httplib's timeouts alone:
// those bound each read, so a server sending one header byte per second
// never trips them. The request is armed with the runner (Operation), whose
// supervisor calls Client::stop() at the deadline; the per-read and connect
// timeouts are set to the same value as a backstop (a connect in progress
// is not interrupted by stop()).
//
// Why If-None-Match is sent only to the URL whose body the layer holds: two
// regions may serve different snapshots under the same ETag (or the layer may
// hold the cache). A 304 from a URL means "you already have *my* version",
// which is only true of the URL we last applied.
#include "sources/http_source.h"

#include <httplib.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/str_util.h"
#include "degrade/snapshot.h"
#include "sources/http_error.h"

namespace degrade::internal {
namespace {

constexpr absl::Duration kBackoffFirstMax = absl::Milliseconds(500);
constexpr absl::Duration kBackoffCapMax = absl::Seconds(60);
constexpr int64_t kBackoffCapIntervals = 6;
constexpr double kIntervalJitter = 0.10;
constexpr absl::Duration kStartupSlack = absl::Milliseconds(500);

}  // namespace

namespace {

absl::Duration BackoffCap(absl::Duration interval) {
  return std::max(interval, std::min(interval * kBackoffCapIntervals, kBackoffCapMax));
}

absl::Duration BackoffBase(absl::Duration interval) {
  return std::min(interval / 4, kBackoffFirstMax);
}

}  // namespace

absl::Duration BackoffDelay(absl::Duration interval, int64_t failed_rounds) {
  return BackoffDelay(BackoffBase(interval), BackoffCap(interval), failed_rounds);
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

absl::Status ValidateHttpSource(const HttpSourceConfig& config) {
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

absl::Duration HttpStartupBudget(const HttpSourceConfig& config) {
  return config.timeout * static_cast<int64_t>(config.urls.size()) + kStartupSlack;
}

namespace {

// The transport in production: cpp-httplib, one connection per request
// (no keep-alive: polls are seconds apart), bounded by one overall deadline.
class HttplibTransport final : public HttpTransport {
 public:
  explicit HttplibTransport(HttpSourceConfig config) : config_(std::move(config)) {}
  absl::StatusOr<HttpReply> Get(RunContext& ctx, const HttpGet& get) override;

 private:
  const HttpSourceConfig config_;
};

class HttpPoll final : public PollStrategy {
 public:
  explicit HttpPoll(HttpSourceConfig config)
      : config_(std::move(config)),
        transport_(config_.transport != nullptr
                       ? config_.transport
                       : std::make_shared<HttplibTransport>(config_)) {
    for (const std::string& url : config_.urls) {
      absl::StatusOr<SplitUrlResult> split = SplitUrl(url);
      Target t;
      t.url = url;
      if (split.ok()) {  // validated; an invalid URL fails each request instead
        t.origin = std::move(split->origin);
        t.path = std::move(split->target);
      }
      t.source = absl::StrCat("remote ", url);
      targets_.push_back(std::move(t));
    }
  }

  PollResult Poll(RunContext& ctx) override {
    std::vector<std::string> errors;
    for (size_t i = 0; i < targets_.size(); ++i) {
      if (ctx.stopping()) return PollResult::Failed("remote", "stopping");
      Target& t = targets_[i];
      std::string error;
      const Outcome outcome = Fetch(ctx, i, &error);
      if (outcome == Outcome::kFailed) {
        ctx.LogErrorOnce(t.url,
                         absl::StrCat(error, "; the remote layer keeps its last good state"));
        errors.push_back(std::move(error));
        continue;
      }
      ctx.ClearError(t.url, absl::StrCat(t.source, ": answers again"));
      PollResult r = outcome == Outcome::kFresh
                         ? PollResult::Fresh(t.source, *std::move(fresh_), t.url)
                         : PollResult::NotModified(t.source, t.url);
      fresh_.reset();
      r.error = absl::StrJoin(errors, "; ");  // the preferred URLs that failed
      return r;
    }
    PollResult r = PollResult::Failed("remote", absl::StrJoin(errors, "; "));
    r.log_error = false;  // each URL's error is logged above
    return r;
  }

  void Accepted(bool applied) override {
    if (applied && pending_index_.has_value()) {
      applied_from_ = pending_index_;
      applied_body_ = std::move(pending_body_);
      applied_etag_ = std::move(pending_etag_);
    }
    pending_index_.reset();
    pending_body_.clear();
    pending_etag_.clear();
  }

 private:
  enum class Outcome { kFresh, kNotModified, kFailed };
  struct Target {
    std::string url;
    std::string origin;
    std::string path;
    std::string source;  // "remote <url>", prefixes every message
  };

  Outcome Fetch(RunContext& ctx, size_t index, std::string* error);
  Outcome Interpret(RunContext& ctx, size_t index, std::string body, std::string etag,
                    bool conditional, int status, std::string* error);

  const HttpSourceConfig config_;
  const std::shared_ptr<HttpTransport> transport_;
  std::vector<Target> targets_;
  // What the layer holds from us (committed by Accepted).
  std::optional<size_t> applied_from_;
  std::string applied_body_;
  std::string applied_etag_;
  // The answer handed to the runner, until Accepted.
  std::optional<Snapshot> fresh_;
  std::optional<size_t> pending_index_;
  std::string pending_body_;
  std::string pending_etag_;
};

absl::StatusOr<HttpReply> HttplibTransport::Get(RunContext& ctx, const HttpGet& t) {
  httplib::Client client(t.origin);
  if (!client.is_valid()) {
    return absl::UnavailableError(absl::StrCat(t.source, ": not a URL this client can open"));
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

  httplib::Headers headers(t.headers.begin(), t.headers.end());

  int status = 0;
  bool got_head = false;  // status line and headers complete
  std::string etag;
  std::string body;
  std::string reason;  // set when we abandon the response ourselves
  const size_t limit = config_.max_body_bytes;
  auto on_response = [&](const httplib::Response& r) {
    got_head = true;
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
    body.append(data, n);
    return true;
  };

  const absl::Time start = ctx.MonotonicNow();
  bool expired = false;
  httplib::Result result = [&] {
    std::unique_ptr<Operation> op =
        ctx.Arm(t.source, config_.timeout, [&client] { client.stop(); });
    httplib::Result r = client.Get(t.path, headers, on_response, on_data);
    expired = op->expired();
    return r;
  }();  // disarmed here: the supervisor no longer touches `client`
  if (ctx.stopping()) return absl::CancelledError(absl::StrCat(t.source, ": stopping"));
  // The deadline passed: the supervisor stopped the request, or the per-read
  // timeout (the same length) ended it first. Either way, say which part of
  // the response was still missing.
  const bool connecting = !result && (result.error() == httplib::Error::Connection ||
                                      result.error() == httplib::Error::ConnectionTimeout);
  const bool timed_out =
      !result && reason.empty() &&
      (expired || (ctx.MonotonicNow() - start >= config_.timeout * 9 / 10 &&
                   (connecting || result.error() == httplib::Error::Read)));
  if (timed_out) {
    const std::string limit_text = absl::FormatDuration(config_.timeout);
    if (connecting) {
      return absl::DeadlineExceededError(
          absl::StrCat(t.source, ": timed out connecting (limit ", limit_text, ")"));
    }
    if (got_head) {
      return absl::DeadlineExceededError(
          absl::StrCat(t.source, ": timed out: body still arriving after ", limit_text));
    }
    return absl::DeadlineExceededError(absl::StrCat(t.source, ": timed out: no response within ",
                                                    limit_text,
                                                    " (status line and headers incomplete)"));
  }
  if (!result) {
    if (!reason.empty()) return absl::UnavailableError(absl::StrCat(t.source, ": ", reason));
    return absl::UnavailableError(
        absl::StrCat(t.source, ": ",
                     DescribeHttpError(result.error(), /*timed_out=*/false, config_.timeout,
                                       config_.ca_file,
                                       "set remote_ca_file to the CA that signed the server's "
                                       "certificate")));
  }
  HttpReply reply;
  reply.status = status;
  reply.etag = std::move(etag);
  reply.body = std::move(body);
  return reply;
}


HttpPoll::Outcome HttpPoll::Fetch(RunContext& ctx, size_t index, std::string* error) {
  const Target& t = targets_[index];
  HttpGet get;
  get.url = t.url;
  get.origin = t.origin;
  get.path = t.path;
  get.source = t.source;
  get.headers = {{"Accept", "application/json"}, {"User-Agent", "degrade-http-source"}};
  const bool conditional = applied_from_ == index && !applied_etag_.empty();
  if (conditional) get.headers.emplace_back("If-None-Match", applied_etag_);
  absl::StatusOr<HttpReply> reply = transport_->Get(ctx, get);
  if (!reply.ok()) {
    *error = ToStd(reply.status().message());
    return Outcome::kFailed;
  }
  return Interpret(ctx, index, std::move(reply->body), std::move(reply->etag), conditional,
                   reply->status, error);
}

HttpPoll::Outcome HttpPoll::Interpret(RunContext& ctx, size_t index, std::string body,
                                      std::string etag, bool conditional, int status,
                                      std::string* error) {
  const Target& t = targets_[index];
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
    applied_etag_ = std::move(etag);
    return Outcome::kNotModified;
  }
  std::vector<std::string> warnings;
  Registry& registry = ctx.registry();
  absl::StatusOr<Snapshot> parsed = ParseSnapshotAs(
      config_.format, body, t.source, registry.clock().Now(),
      [&registry](std::string_view name) { return registry.Find(name) != nullptr; }, &warnings);
  if (!parsed.ok()) {
    *error = ToStd(parsed.status().message());
    return Outcome::kFailed;
  }
  for (const std::string& w : warnings) registry.Log(LogLevel::kWarning, w);
  fresh_ = *std::move(parsed);
  pending_index_ = index;
  pending_body_ = std::move(body);
  pending_etag_ = std::move(etag);
  return Outcome::kFresh;
}

}  // namespace

// The source's Fetch and the etcd client tell their own timeouts apart
// first where they know more (a head still missing, a body still arriving).
std::string DescribeHttpError(httplib::Error error, bool timed_out, absl::Duration limit,
                              std::string_view ca_file, std::string_view ca_remedy) {
  const std::string limit_text = absl::FormatDuration(limit);
  switch (error) {
    case httplib::Error::Connection:
      return timed_out ? absl::StrCat("timed out connecting (limit ", limit_text, ")")
                       : "cannot connect (connection refused or host unreachable)";
    case httplib::Error::ConnectionTimeout:
      return absl::StrCat("timed out connecting (limit ", limit_text, ")");
    case httplib::Error::Read:
      return timed_out ? absl::StrCat("timed out: nothing received for ", limit_text)
                       : "connection closed before a complete response";
    case httplib::Error::Write:
      return "cannot send the request (connection closed)";
    case httplib::Error::SSLConnection:
      return "TLS handshake failed";
    case httplib::Error::SSLLoadingCerts:
      return ca_file.empty() ? "cannot load CA certificates (system store)"
                             : absl::StrCat("cannot load CA certificates from ", ToAbsl(ca_file));
    case httplib::Error::SSLServerVerification:
      return ca_file.empty()
                 ? absl::StrCat("TLS certificate verification failed against the system CA "
                                "store; ",
                                ToAbsl(ca_remedy))
                 : absl::StrCat("TLS certificate verification failed against ", ToAbsl(ca_file));
    default:
      return absl::StrCat("request failed: ", httplib::to_string(error));
  }
}

std::unique_ptr<SourceRunner> StartHttpSource(Registry& registry, HttpSourceConfig config,
                                              MonotonicClock* clock) {
  SourceRunner::Config rc;
  rc.name = "remote";
  rc.target = absl::StrJoin(config.urls, ", ");
  rc.source = "remote";
  rc.layer = Layer::kRemote;
  rc.interval = config.interval;
  rc.interval_jitter = kIntervalJitter;
  rc.backoff_base = BackoffBase(config.interval);
  rc.backoff_cap = BackoffCap(config.interval);
  // backoff_jitter: the runner's +-20%.
  rc.startup_budget = HttpStartupBudget(config);
  // A confirmed round is due every interval (+10%) and takes at most
  // urls x timeout; twice that without one means the loop is stuck.
  rc.stale_after = 2 * (config.interval * (1 + kIntervalJitter) + HttpStartupBudget(config));
  rc.cache_file = config.cache_file;
  rc.startup_failure_text = "no remote URL answered at start";
  rc.clock = clock;
  return std::make_unique<SourceRunner>(registry, std::move(rc),
                                        std::make_unique<HttpPoll>(std::move(config)));
}

}  // namespace degrade::internal
