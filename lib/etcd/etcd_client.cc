// etcd v3 gateway client. See etcd_client.h for the behaviour.
//
// Why a new connection per request: the client is called from several
// threads (the source's watch, degradectl, tests), httplib::Client is not
// safe for concurrent requests, and a loopback or LAN connect costs far less
// than the raft round trip of a write. Each request's client is registered
// so Stop() can interrupt it.
//
// Why tokens are shared across endpoints: etcd 3.4 replicates a simple
// token through raft when it is issued, so every member accepts it.
#include "etcd/etcd_client.h"

#include <httplib.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "etcd/etcd_json.h"
#include "sources/http_source.h"
#include "core/str_util.h"

namespace degrade::internal {
namespace {

using json = nlohmann::json;

// Blocks SIGPIPE on this thread while a request runs, and discards one the
// request raised. cpp-httplib 0.11 sends with MSG_NOSIGNAL, but OpenSSL's
// shutdown after Client::stop() writes to the closed socket with write(2):
// unblocked, that SIGPIPE would end the whole process (seen with https
// endpoints when a watch is stopped).
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    blocked_ = pthread_sigmask(SIG_BLOCK, &block, &old_) == 0;
  }
  ~ScopedSigpipeBlock() {
    if (!blocked_) return;
    if (!was_pending_) {
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      const timespec zero = {0, 0};
      const int saved_errno = errno;
      for (;;) {
        const int sig = sigtimedwait(&pipe, nullptr, &zero);
        if (sig == SIGPIPE || (sig < 0 && errno == EINTR)) continue;
        break;  // none pending (EAGAIN)
      }
      errno = saved_errno;
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t old_;
  bool blocked_ = false;
  bool was_pending_ = false;
};

std::string ToStd(absl::string_view s) { return std::string(s.data(), s.size()); }

// etcd's own message without the "etcd: " that EtcdErrorStatus puts first.
std::string EtcdMessage(const absl::Status& s) {
  return ToStd(absl::StripPrefix(s.message(), "etcd: "));
}

// Retrying on another member can help: it has a leader, or it is up.
bool IsMemberProblem(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded;
}

// The status etcd's error reply stands for, or one describing an
// unexpected reply.
absl::Status ReplyError(int http_status, const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_discarded()) {
    if (std::optional<absl::Status> s = EtcdErrorStatus(j)) return *s;
  }
  json shown = body;
  return absl::UnknownError(absl::StrCat("HTTP ", http_status, " with body ", EtcdShowValue(shown),
                                         "; accepted: 200, or an etcd error reply"));
}

std::string Describe(httplib::Error error, bool timed_out, absl::Duration limit,
                     const std::string& ca_file) {
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
      return absl::StrCat("cannot load CA certificates",
                          ca_file.empty() ? std::string(" (system store)")
                                          : absl::StrCat(" from ", ca_file));
    case httplib::Error::SSLServerVerification:
      return ca_file.empty()
                 ? "TLS certificate verification failed against the system CA store; set the "
                   "etcd CA file to the CA that signed the member's certificate"
                 : absl::StrCat("TLS certificate verification failed against ", ca_file);
    default:
      return absl::StrCat("request failed: ", httplib::to_string(error));
  }
}

absl::Status Malformed(const std::string& endpoint, std::string_view what,
                       const absl::Status& detail) {
  return absl::DataLossError(absl::StrCat("etcd ", endpoint, ": ", ToAbsl(what),
                                          ": unexpected reply: ", detail.message()));
}

// The reply body as a JSON object.
absl::StatusOr<json> ParseReply(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    json shown = body;
    return absl::InvalidArgumentError(
        absl::StrCat("not a JSON object: ", EtcdShowValue(shown)));
  }
  return j;
}

absl::StatusOr<int64_t> HeaderRevision(const json& j) {
  auto h = j.find("header");
  if (h == j.end() || !h->is_object()) {
    return absl::InvalidArgumentError("header: missing; accepted: an object with revision");
  }
  return EtcdInt64Field(*h, "revision", "header");
}

}  // namespace

absl::Status EtcdClient::Validate(const Config& config) {
  if (config.endpoints.empty()) {
    return absl::InvalidArgumentError(
        "etcd_endpoints is empty; accepted: one or more http(s)://host:port");
  }
  for (const std::string& e : config.endpoints) {
    absl::StatusOr<SplitUrlResult> split = SplitUrl(e);
    if (!split.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("etcd_endpoints: ", split.status().message()));
    }
    if (split->target != "/") {
      return absl::InvalidArgumentError(
          absl::StrCat("etcd_endpoints: \"", e, "\" has a path (", split->target,
                       "); accepted: http(s)://host:port only"));
    }
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
    if (absl::StartsWithIgnoreCase(split->origin, "https:")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "etcd_endpoints: \"", e, "\" needs https, but cpp-httplib was built without OpenSSL"));
    }
#endif
  }
  if (config.user.empty() && !config.password.empty()) {
    return absl::InvalidArgumentError(
        "etcd_password is set without etcd_user; accepted: both, or neither");
  }
  if (config.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd timeout ", absl::FormatDuration(config.timeout),
                     " is not positive; accepted: a positive duration (default 2s)"));
  }
  if (config.watch_idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd watch_idle_timeout ", absl::FormatDuration(config.watch_idle_timeout),
                     " is not positive; accepted: a positive duration (default 60s)"));
  }
  if (config.max_response_bytes == 0 || config.max_watch_message_bytes == 0) {
    return absl::InvalidArgumentError(
        "etcd response size limit is 0; accepted: a positive number of bytes");
  }
  return absl::OkStatus();
}

EtcdClient::EtcdClient(Config config) : config_(std::move(config)) {
  for (const std::string& e : config_.endpoints) {
    absl::StatusOr<SplitUrlResult> split = SplitUrl(e);
    endpoints_.push_back(split.ok() ? split->origin : e);  // without a trailing "/"
  }
}

EtcdClient::~EtcdClient() { Stop(); }

void EtcdClient::Stop() {
  stopped_.store(true, std::memory_order_release);
  std::unique_lock<std::mutex> lock(mu_);
  // A request may have registered but not opened its socket yet, when
  // stop() has nothing to shut down: keep stopping until all have left.
  while (!active_.empty()) {
    for (httplib::Client* c : active_) c->stop();
    idle_.wait_for(lock, std::chrono::milliseconds(5));
  }
}

bool EtcdClient::Register(httplib::Client* client) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped()) return false;
  active_.insert(client);
  return true;
}

void EtcdClient::Unregister(httplib::Client* client) {
  std::lock_guard<std::mutex> lock(mu_);
  active_.erase(client);
  idle_.notify_all();
}

std::string EtcdClient::current_endpoint() const {
  std::lock_guard<std::mutex> lock(mu_);
  return endpoints_[current_ % endpoints_.size()];
}

std::vector<std::string> EtcdClient::endpoints() const {
  std::lock_guard<std::mutex> lock(mu_);
  return endpoints_;
}

std::unique_ptr<httplib::Client> EtcdClient::MakeClient(const std::string& endpoint,
                                                        absl::Duration read_timeout) {
  auto client = std::make_unique<httplib::Client>(endpoint);
  client->set_connection_timeout(absl::ToChronoMicroseconds(config_.timeout));
  client->set_read_timeout(absl::ToChronoMicroseconds(read_timeout));
  client->set_write_timeout(absl::ToChronoMicroseconds(config_.timeout));
  client->set_keep_alive(false);
  client->set_follow_location(false);
  client->set_tcp_nodelay(true);
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
  client->enable_server_certificate_verification(true);
  if (!config_.ca_file.empty()) client->set_ca_cert_path(config_.ca_file);
#endif
  return client;
}

absl::StatusOr<EtcdClient::Reply> EtcdClient::Post(const std::string& endpoint,
                                                   const std::string& path,
                                                   const std::string& body,
                                                   const std::string& token,
                                                   std::string_view what) {
  const std::string prefix = absl::StrCat("etcd ", endpoint, ": ", ToAbsl(what), ": ");
  std::unique_ptr<httplib::Client> client = MakeClient(endpoint, config_.timeout);
  if (!client->is_valid()) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, "not an endpoint this client can open"));
  }
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body;
  req.headers = {{"Content-Type", "application/json"}, {"User-Agent", "degrade-etcd"}};
  if (!token.empty()) req.headers.emplace("Authorization", token);
  Reply reply;
  std::string too_big;
  const size_t limit = config_.max_response_bytes;
  req.response_handler = [&](const httplib::Response& r) {
    reply.status = r.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (stopped()) return false;
    if (n > limit - reply.body.size()) {
      too_big = absl::StrCat("reply larger than the limit of ", limit, " bytes");
      return false;
    }
    reply.body.append(data, n);
    return true;
  };
  if (!Register(client.get())) return absl::CancelledError(absl::StrCat(prefix, "client stopped"));
  const auto start = std::chrono::steady_clock::now();
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  bool sent = false;
  {
    ScopedSigpipeBlock no_sigpipe;
    sent = client->send(req, res, error);
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  Unregister(client.get());
  if (stopped()) return absl::CancelledError(absl::StrCat(prefix, "client stopped"));
  if (sent) return reply;
  if (!too_big.empty()) return absl::ResourceExhaustedError(absl::StrCat(prefix, too_big));
  // The gateway ends some chunked error replies with an HTTP trailer, which
  // cpp-httplib 0.11 reports as a read error after delivering the whole
  // body: a complete JSON reply is still a reply.
  if (reply.status > 0 && error == httplib::Error::Read) {
    json j = json::parse(reply.body, nullptr, false);
    if (!j.is_discarded() && j.is_object()) return reply;
  }
  const bool timed_out =
      elapsed >= absl::ToChronoNanoseconds(config_.timeout) * 9 / 10;
  return absl::UnavailableError(
      absl::StrCat(prefix, Describe(error, timed_out, config_.timeout, config_.ca_file)));
}

absl::StatusOr<std::string> EtcdClient::Token(const std::string& endpoint, bool refresh) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!refresh && !token_.empty()) return token_;
  }
  const std::string what = absl::StrCat("authenticate as ", config_.user);
  const std::string body = json{{"name", config_.user}, {"password", config_.password}}.dump();
  absl::StatusOr<Reply> reply = Post(endpoint, "/v3/auth/authenticate", body, "", what);
  if (!reply.ok()) return reply.status();
  const std::string prefix = absl::StrCat("etcd ", endpoint, ": ", what, ": ");
  if (reply->status != 200) {
    absl::Status s = ReplyError(reply->status, reply->body);
    if (s.code() == absl::StatusCode::kFailedPrecondition &&
        absl::StrContains(s.message(), "authentication is not enabled")) {
      return std::string();  // requests without a token are accepted
    }
    return absl::Status(s.code(), absl::StrCat(prefix, EtcdMessage(s)));
  }
  absl::StatusOr<json> j = ParseReply(reply->body);
  if (!j.ok()) return Malformed(endpoint, what, j.status());
  absl::StatusOr<std::string> token = EtcdStringField(*j, "token", "");
  if (!token.ok()) return Malformed(endpoint, what, token.status());
  if (token->empty()) {
    return Malformed(endpoint, what, absl::InvalidArgumentError("token: missing"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  token_ = *token;
  return token_;
}

void EtcdClient::DropToken(const std::string& token) {
  std::lock_guard<std::mutex> lock(mu_);
  if (token_ == token) token_.clear();
}

absl::StatusOr<std::string> EtcdClient::Call(const std::string& path, const std::string& body,
                                             std::string_view what, std::string* endpoint) {
  std::vector<std::string> eps;
  size_t start = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    eps = endpoints_;
    start = current_;
  }
  std::vector<std::string> errors;
  for (size_t k = 0; k < eps.size(); ++k) {
    if (stopped()) return absl::CancelledError(absl::StrCat("etcd: ", ToAbsl(what), ": client stopped"));
    const size_t index = (start + k) % eps.size();
    const std::string& ep = eps[index];
    bool reauthenticated = false;
    bool next = false;
    while (!next) {
      std::string token;
      if (!config_.user.empty()) {
        absl::StatusOr<std::string> t = Token(ep, false);
        if (!t.ok()) {
          if (absl::IsCancelled(t.status())) return t.status();
          if (!IsMemberProblem(t.status().code())) return t.status();
          errors.push_back(ToStd(t.status().message()));
          break;
        }
        token = *t;
      }
      absl::StatusOr<Reply> reply = Post(ep, path, body, token, what);
      if (!reply.ok()) {
        if (!IsMemberProblem(reply.status().code())) return reply.status();
        errors.push_back(ToStd(reply.status().message()));
        break;
      }
      if (reply->status == 200) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          // Only when the list has not changed meanwhile (DiscoverMembers).
          if (index < endpoints_.size() && endpoints_[index] == ep) current_ = index;
        }
        *endpoint = ep;
        return std::move(reply->body);
      }
      absl::Status s = ReplyError(reply->status, reply->body);
      const std::string message =
          absl::StrCat("etcd ", ep, ": ", ToAbsl(what), ": ", EtcdMessage(s));
      if (s.code() == absl::StatusCode::kUnauthenticated && !config_.user.empty() &&
          !reauthenticated) {
        DropToken(token);  // expired: authenticate again and retry once
        reauthenticated = true;
        continue;
      }
      if (!IsMemberProblem(s.code())) return absl::Status(s.code(), message);
      errors.push_back(message);
      next = true;
    }
  }
  return absl::UnavailableError(absl::StrCat("etcd: ", ToAbsl(what), ": no endpoint answered: ",
                                             absl::StrJoin(errors, "; ")));
}

absl::StatusOr<EtcdClient::RangeResult> EtcdClient::Range(std::string_view key,
                                                          std::string_view range_end) {
  const std::string what = absl::StrCat("range ", ToAbsl(key));
  json req = {{"key", EtcdBase64(key)}};
  if (!range_end.empty()) req["range_end"] = EtcdBase64(range_end);
  std::string ep;
  absl::StatusOr<std::string> body = Call("/v3/kv/range", req.dump(), what, &ep);
  if (!body.ok()) return body.status();
  absl::StatusOr<json> j = ParseReply(*body);
  if (!j.ok()) return Malformed(ep, what, j.status());
  RangeResult out;
  absl::StatusOr<int64_t> rev = HeaderRevision(*j);
  if (!rev.ok()) return Malformed(ep, what, rev.status());
  out.revision = *rev;
  if (auto kvs = j->find("kvs"); kvs != j->end()) {
    if (!kvs->is_array()) {
      return Malformed(ep, what, absl::InvalidArgumentError("kvs: not an array"));
    }
    for (size_t i = 0; i < kvs->size(); ++i) {
      const json& kv = (*kvs)[i];
      const std::string path = absl::StrCat("kvs[", i, "]");
      if (!kv.is_object()) {
        return Malformed(ep, what, absl::InvalidArgumentError(path + ": not an object"));
      }
      EtcdKv item;
      absl::StatusOr<std::string> k = EtcdBytesField(kv, "key", path);
      if (!k.ok()) return Malformed(ep, what, k.status());
      absl::StatusOr<std::string> v = EtcdBytesField(kv, "value", path);
      if (!v.ok()) return Malformed(ep, what, v.status());
      absl::StatusOr<int64_t> mod = EtcdInt64Field(kv, "mod_revision", path);
      if (!mod.ok()) return Malformed(ep, what, mod.status());
      item.key = *std::move(k);
      item.value = *std::move(v);
      item.mod_revision = *mod;
      out.kvs.push_back(std::move(item));
    }
  }
  return out;
}

absl::StatusOr<EtcdClient::RangeResult> EtcdClient::RangePrefix(std::string_view prefix) {
  return Range(prefix, EtcdPrefixEnd(prefix));
}

absl::StatusOr<int64_t> EtcdClient::Put(std::string_view key, std::string_view value) {
  const std::string what = absl::StrCat("put ", ToAbsl(key));
  const json req = {{"key", EtcdBase64(key)}, {"value", EtcdBase64(value)}};
  std::string ep;
  absl::StatusOr<std::string> body = Call("/v3/kv/put", req.dump(), what, &ep);
  if (!body.ok()) return body.status();
  absl::StatusOr<json> j = ParseReply(*body);
  if (!j.ok()) return Malformed(ep, what, j.status());
  absl::StatusOr<int64_t> rev = HeaderRevision(*j);
  if (!rev.ok()) return Malformed(ep, what, rev.status());
  return *rev;
}

namespace {

absl::StatusOr<EtcdClient::DeleteResult> ParseDelete(const std::string& ep, std::string_view what,
                                                     const std::string& body) {
  absl::StatusOr<json> j = ParseReply(body);
  if (!j.ok()) return Malformed(ep, what, j.status());
  EtcdClient::DeleteResult out;
  absl::StatusOr<int64_t> rev = HeaderRevision(*j);
  if (!rev.ok()) return Malformed(ep, what, rev.status());
  absl::StatusOr<int64_t> deleted = EtcdInt64Field(*j, "deleted", "");
  if (!deleted.ok()) return Malformed(ep, what, deleted.status());
  out.revision = *rev;
  out.deleted = *deleted;
  return out;
}

}  // namespace

absl::StatusOr<EtcdClient::DeleteResult> EtcdClient::Delete(std::string_view key) {
  const std::string what = absl::StrCat("delete ", ToAbsl(key));
  const json req = {{"key", EtcdBase64(key)}};
  std::string ep;
  absl::StatusOr<std::string> body = Call("/v3/kv/deleterange", req.dump(), what, &ep);
  if (!body.ok()) return body.status();
  return ParseDelete(ep, what, *body);
}

absl::StatusOr<EtcdClient::DeleteResult> EtcdClient::DeletePrefix(std::string_view prefix) {
  const std::string what = absl::StrCat("delete prefix ", ToAbsl(prefix));
  const json req = {{"key", EtcdBase64(prefix)}, {"range_end", EtcdBase64(EtcdPrefixEnd(prefix))}};
  std::string ep;
  absl::StatusOr<std::string> body = Call("/v3/kv/deleterange", req.dump(), what, &ep);
  if (!body.ok()) return body.status();
  return ParseDelete(ep, what, *body);
}

absl::StatusOr<EtcdClient::TxnResult> EtcdClient::PutIfModRevision(std::string_view key,
                                                                   std::string_view value,
                                                                   int64_t mod_revision) {
  const std::string what = absl::StrCat("put ", ToAbsl(key), " if at revision ", mod_revision);
  const std::string k = EtcdBase64(key);
  const json req = {
      {"compare", json::array({{{"key", k},
                                {"target", "MOD"},
                                {"result", "EQUAL"},
                                {"mod_revision", std::to_string(mod_revision)}}})},
      {"success",
       json::array({{{"request_put", {{"key", k}, {"value", EtcdBase64(value)}}}}})},
  };
  std::string ep;
  absl::StatusOr<std::string> body = Call("/v3/kv/txn", req.dump(), what, &ep);
  if (!body.ok()) return body.status();
  absl::StatusOr<json> j = ParseReply(*body);
  if (!j.ok()) return Malformed(ep, what, j.status());
  TxnResult out;
  absl::StatusOr<int64_t> rev = HeaderRevision(*j);
  if (!rev.ok()) return Malformed(ep, what, rev.status());
  absl::StatusOr<bool> ok = EtcdBoolField(*j, "succeeded", "");
  if (!ok.ok()) return Malformed(ep, what, ok.status());
  out.revision = *rev;
  out.succeeded = *ok;
  return out;
}

absl::Status EtcdClient::Compact(int64_t revision) {
  const std::string what = absl::StrCat("compact to revision ", revision);
  const json req = {{"revision", std::to_string(revision)}, {"physical", true}};
  std::string ep;
  absl::StatusOr<std::string> body = Call("/v3/kv/compaction", req.dump(), what, &ep);
  return body.status();
}

absl::StatusOr<std::vector<std::string>> EtcdClient::MemberClientUrls() {
  const std::string what = "member list";
  std::string ep;
  absl::StatusOr<std::string> body = Call("/v3/cluster/member/list", "{}", what, &ep);
  if (!body.ok()) return body.status();
  absl::StatusOr<json> j = ParseReply(*body);
  if (!j.ok()) return Malformed(ep, what, j.status());
  std::vector<std::string> urls;
  auto members = j->find("members");
  if (members == j->end()) return urls;
  if (!members->is_array()) {
    return Malformed(ep, what, absl::InvalidArgumentError("members: not an array"));
  }
  for (const json& m : *members) {
    if (!m.is_object()) continue;
    auto client_urls = m.find("clientURLs");
    if (client_urls == m.end() || !client_urls->is_array()) continue;  // not started yet
    for (const json& u : *client_urls) {
      if (u.is_string()) urls.push_back(u.get<std::string>());
    }
  }
  return urls;
}

absl::StatusOr<size_t> EtcdClient::DiscoverMembers() {
  absl::StatusOr<std::vector<std::string>> urls = MemberClientUrls();
  if (!urls.ok()) return urls.status();
  size_t added = 0;
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& u : *urls) {
    absl::StatusOr<SplitUrlResult> split = SplitUrl(u);
    if (!split.ok() || split->target != "/") continue;  // not one we could use
    bool known = false;
    for (const std::string& e : endpoints_) known = known || e == split->origin;
    if (!known) {
      endpoints_.push_back(split->origin);
      ++added;
    }
  }
  return added;
}

absl::Status EtcdClient::Watch(const WatchOptions& options,
                               const std::function<bool(EtcdWatchMessage&&)>& on_message) {
  const std::string what = absl::StrCat("watch ", ToAbsl(options.key), " from revision ",
                                        options.start_revision);
  json create = {{"key", EtcdBase64(options.key)}};
  if (!options.range_end.empty()) create["range_end"] = EtcdBase64(options.range_end);
  if (options.start_revision > 0) create["start_revision"] = std::to_string(options.start_revision);
  if (options.progress_notify) create["progress_notify"] = true;
  const std::string body = json{{"create_request", create}}.dump();

  std::vector<std::string> eps;
  size_t start = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    eps = endpoints_;
    start = current_;
  }
  // After a stream that was open fails, the next watch starts from the
  // next member: the one that failed may be down or cut off.
  auto advance_past = [&](size_t index) {
    std::lock_guard<std::mutex> lock(mu_);
    if (index < endpoints_.size() && endpoints_[index] == eps[index]) {
      current_ = (index + 1) % endpoints_.size();
    }
  };
  auto settle_on = [&](size_t index) {
    std::lock_guard<std::mutex> lock(mu_);
    if (index < endpoints_.size() && endpoints_[index] == eps[index]) current_ = index;
  };

  std::vector<std::string> errors;
  for (size_t k = 0; k < eps.size(); ++k) {
    const size_t index = (start + k) % eps.size();
    const std::string& ep = eps[index];
    const std::string prefix = absl::StrCat("etcd ", ep, ": ", what, ": ");
    bool reauthenticated = false;
    for (;;) {
      if (stopped()) return absl::CancelledError(absl::StrCat(prefix, "client stopped"));
      std::string token;
      if (!config_.user.empty()) {
        absl::StatusOr<std::string> t = Token(ep, false);
        if (!t.ok()) {
          if (absl::IsCancelled(t.status()) || !IsMemberProblem(t.status().code())) {
            return t.status();
          }
          errors.push_back(ToStd(t.status().message()));
          break;
        }
        token = *t;
      }
      std::unique_ptr<httplib::Client> client = MakeClient(ep, config_.watch_idle_timeout);
      if (!client->is_valid()) {
        return absl::InvalidArgumentError(
            absl::StrCat(prefix, "not an endpoint this client can open"));
      }
      httplib::Request req;
      req.method = "POST";
      req.path = "/v3/watch";
      req.body = body;
      // grpc-gateway passes Grpc-Metadata-* headers on as gRPC metadata;
      // "hasleader" makes etcd end the watch when its member has no leader.
      req.headers = {{"Content-Type", "application/json"},
                     {"User-Agent", "degrade-etcd"},
                     {"Grpc-Metadata-hasleader", "true"}};
      if (!token.empty()) req.headers.emplace("Authorization", token);

      EtcdWatchParser parser(config_.max_watch_message_bytes);
      int status = 0;
      std::string error_body;
      absl::Status stream_error;
      bool done = false;  // ended on purpose: by on_message, a cancel
      absl::Status result;
      auto last_data = std::chrono::steady_clock::now();
      auto deliver = [&](EtcdWatchMessage&& m) {
        if (done) return;
        if (m.canceled && m.compact_revision > 0) {
          on_message(std::move(m));
          done = true;
          return;
        }
        if (m.canceled) {
          done = true;
          const bool auth = absl::StrContains(m.cancel_reason, "Unauthenticated") ||
                            absl::StrContains(m.cancel_reason, "auth token");
          const std::string text = absl::StrCat(prefix, "etcd canceled the watch: ",
                                                m.cancel_reason.empty() ? std::string("no reason")
                                                                        : m.cancel_reason);
          result = auth ? absl::UnauthenticatedError(text) : absl::FailedPreconditionError(text);
          return;
        }
        if (!on_message(std::move(m))) done = true;
      };
      req.response_handler = [&](const httplib::Response& r) {
        status = r.status;
        return true;
      };
      req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
        if (stopped()) return false;
        last_data = std::chrono::steady_clock::now();
        if (status != 200) {
          if (n > config_.max_response_bytes - error_body.size()) return false;
          error_body.append(data, n);
          return true;
        }
        stream_error = parser.Feed(std::string_view(data, n), deliver);
        return stream_error.ok() && !done;
      };
      if (!Register(client.get())) return absl::CancelledError(absl::StrCat(prefix, "client stopped"));
      httplib::Response res;
      httplib::Error error = httplib::Error::Success;
      {
        ScopedSigpipeBlock no_sigpipe;
        client->send(req, res, error);
      }
      Unregister(client.get());
      if (stopped()) return absl::CancelledError(absl::StrCat(prefix, "client stopped"));

      if (done) {
        if (absl::IsUnauthenticated(result)) {
          DropToken(token);
          if (!reauthenticated) {  // the token expired: once more with a new one
            reauthenticated = true;
            continue;
          }
        }
        settle_on(index);
        return result;
      }
      if (!stream_error.ok()) {
        if (stream_error.code() == absl::StatusCode::kUnauthenticated) DropToken(token);
        advance_past(index);
        return absl::Status(stream_error.code(), absl::StrCat(prefix, stream_error.message()));
      }
      if (status == 0) {  // no response: try the next member now
        const bool timed_out = std::chrono::steady_clock::now() - last_data >=
                               absl::ToChronoNanoseconds(config_.timeout) * 9 / 10;
        errors.push_back(
            absl::StrCat(prefix, Describe(error, timed_out, config_.timeout, config_.ca_file)));
        break;
      }
      if (status != 200) {
        absl::Status s = ReplyError(status, error_body);
        const std::string message = absl::StrCat(prefix, EtcdMessage(s));
        if (s.code() == absl::StatusCode::kUnauthenticated && !config_.user.empty() &&
            !reauthenticated) {
          DropToken(token);
          reauthenticated = true;
          continue;
        }
        if (!IsMemberProblem(s.code())) return absl::Status(s.code(), message);
        errors.push_back(message);
        break;
      }
      // The stream was open and ended: the member went away, the
      // connection broke, or it was idle too long.
      advance_past(index);
      const bool idle = std::chrono::steady_clock::now() - last_data >=
                        absl::ToChronoNanoseconds(config_.watch_idle_timeout) * 9 / 10;
      if (idle) {
        return absl::DeadlineExceededError(absl::StrCat(
            prefix, "nothing received for ", absl::FormatDuration(config_.watch_idle_timeout),
            " (watch_idle_timeout)"));
      }
      return absl::UnavailableError(absl::StrCat(
          prefix, error == httplib::Error::Success ? std::string("the stream ended")
                                                   : absl::StrCat("the stream broke: ",
                                                                  Describe(error, false,
                                                                           config_.timeout,
                                                                           config_.ca_file))));
    }
  }
  return absl::UnavailableError(absl::StrCat("etcd: ", what, ": no endpoint accepted the watch: ",
                                             absl::StrJoin(errors, "; ")));
}

}  // namespace degrade::internal
