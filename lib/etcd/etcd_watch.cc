// etcd client: the watch stream and its liveness check. See etcd_client.h
// for the behaviour.
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/str_util.h"
#include "etcd/etcd_client.h"
#include "etcd/etcd_json.h"
#include "etcd/etcd_transport.h"

namespace degrade::internal {

using etcd_transport::Describe;
using etcd_transport::EtcdMessage;
using etcd_transport::IsMemberProblem;
using etcd_transport::ReplyError;
using etcd_transport::ScopedSigpipeBlock;
using etcd_transport::ToStd;
using json = nlohmann::json;

absl::Status EtcdClient::Watch(const WatchOptions& options,
                               const std::function<bool(EtcdWatchMessage&&)>& on_message) {
  const std::string what = absl::StrCat("watch ", ToAbsl(options.key), " from revision ",
                                        options.start_revision);
  json create = {{"key", EtcdBase64(options.key)}};
  if (!options.range_end.empty()) create["range_end"] = EtcdBase64(options.range_end);
  if (options.start_revision > 0) create["start_revision"] = std::to_string(options.start_revision);
  if (options.progress_notify) create["progress_notify"] = true;
  std::string body = json{{"create_request", create}}.dump();
  for (const auto& [key, range_end] : options.more_ranges) {
    json more = create;
    more["key"] = EtcdBase64(key);
    if (range_end.empty()) {
      more.erase("range_end");
    } else {
      more["range_end"] = EtcdBase64(range_end);
    }
    body += json{{"create_request", std::move(more)}}.dump();
  }

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
      // The liveness checker: its own thread, because this one is blocked
      // reading a stream that a stopped member keeps open and silent.
      std::mutex check_mu;
      std::condition_variable check_cv;
      bool check_done = false;
      std::string not_alive;  // guarded by check_mu; why the member is not alive
      std::thread checker;
      if (options.liveness_interval > absl::ZeroDuration()) {
        checker = std::thread([&] {
          std::unique_lock<std::mutex> lock(check_mu);
          for (;;) {
            if (check_cv.wait_for(lock, absl::ToChronoNanoseconds(options.liveness_interval),
                                  [&] { return check_done; })) {
              return;
            }
            lock.unlock();
            absl::Status alive = CheckAlive(ep, options.key);
            if (alive.ok() && options.on_alive) options.on_alive();
            lock.lock();
            if (check_done || absl::IsCancelled(alive)) return;
            if (!alive.ok()) {
              not_alive = ToStd(alive.message());
              client->stop();
              return;
            }
          }
        });
      }
      httplib::Response res;
      httplib::Error error = httplib::Error::Success;
      {
        ScopedSigpipeBlock no_sigpipe;
        client->send(req, res, error);
      }
      if (checker.joinable()) {
        {
          std::lock_guard<std::mutex> lock(check_mu);
          check_done = true;
        }
        check_cv.notify_all();
        checker.join();
      }
      Unregister(client.get());
      if (stopped()) return absl::CancelledError(absl::StrCat(prefix, "client stopped"));
      if (!done && !not_alive.empty()) {
        advance_past(index);
        return absl::UnavailableError(absl::StrCat(
            prefix, "the member did not answer a liveness check (", not_alive,
            "); watching from the next member"));
      }

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


absl::Status EtcdClient::CheckAlive(const std::string& endpoint, const std::string& key) {
  const std::string what = absl::StrCat("liveness check (range ", ToAbsl(key), ")");
  std::string token;
  if (!config_.user.empty()) {
    absl::StatusOr<std::string> t = Token(endpoint, false);
    if (!t.ok()) return t.status();
    token = *t;
  }
  const json req = {{"key", EtcdBase64(key)}, {"keys_only", true}};
  absl::StatusOr<Reply> reply = Post(endpoint, "/v3/kv/range", req.dump(), token, what);
  if (!reply.ok()) return reply.status();
  if (reply->status == 200) return absl::OkStatus();
  absl::Status s = ReplyError(reply->status, reply->body);
  if (!IsMemberProblem(s.code())) return absl::OkStatus();  // it answered
  return absl::Status(s.code(), absl::StrCat("etcd ", endpoint, ": ", what, ": ", EtcdMessage(s)));
}

}  // namespace degrade::internal
