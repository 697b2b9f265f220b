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
#include "core/json_strict.h"
#include "core/str_util.h"
#include "etcd/etcd_transport.h"
#include "sources/http_source.h"


namespace degrade::internal {

using etcd_transport::Describe;
using etcd_transport::EtcdMessage;
using etcd_transport::IsMemberProblem;
using etcd_transport::Malformed;
using etcd_transport::ParseReply;
using etcd_transport::ReplyError;
using etcd_transport::ScopedSigpipeBlock;
using etcd_transport::ToStd;
using json = nlohmann::json;

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
  if (config.range_page_keys == 0) {
    return absl::InvalidArgumentError(
        "etcd range_page_keys is 0; accepted: a positive number of keys (default 1000)");
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
    // One with a duplicate key is complete too: ParseReply reports it.
    JsonProblem problem = JsonProblem::kSyntax;
    absl::StatusOr<json> j = ParseJsonStrict(reply.body, "", &problem);
    if (j.ok() ? j->is_object() : problem == JsonProblem::kDuplicateKey) return reply;
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

}  // namespace degrade::internal
