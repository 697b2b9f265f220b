// Backend over a service's admin endpoint (cpp-httplib client).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/json_strict.h"
#include "ctl_args.h"
#include "ctl_backend.h"
#include "ctl_strings.h"
#include "ctl_watch.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace degrade::ctl {
namespace {

constexpr std::string_view kSwitchesPath = "/degrade/v1/switches";
constexpr std::string_view kShedPath = "/degrade/v1/shed";
constexpr std::string_view kGovernorPath = "/degrade/v1/governor";
constexpr std::string_view kEventsPath = "/degrade/v1/events";

// The server's {"error": "..."} message, or the start of whatever it sent.
std::string ServerMessage(const std::string& body) {
  absl::StatusOr<nlohmann::json> j = internal::ParseJsonStrict(body);
  if (j.ok() && j->is_object()) {
    auto it = j->find("error");
    if (it != j->end() && it->is_string()) return it->get<std::string>();
  }
  std::string text = body.substr(0, 200);
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  text = std::string(absl::StripAsciiWhitespace(text));
  return text.empty() ? "no message" : text;
}

// cpp-httplib's names ("Connection", "Read") read badly in a sentence.
std::string ClientErrorText(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection:
      return "connection refused or failed";
    case httplib::Error::ConnectionTimeout:
      return "connection timed out";
    case httplib::Error::Read:
      return "read failed or timed out";
    case httplib::Error::Write:
      return "write failed";
    default:
      return httplib::to_string(e);
  }
}

class AdminBackend final : public Backend {
 public:
  AdminBackend(AdminOptions options, HttpUrl url)
      : options_(std::move(options)),
        url_(std::move(url)),
        client_(absl::StrCat(url_.scheme, "://", url_.authority)) {
    const auto connect = absl::ToChronoMicroseconds(options_.connect_timeout);
    const auto read = absl::ToChronoMicroseconds(options_.read_timeout);
    client_.set_connection_timeout(connect);
    client_.set_read_timeout(read);
    client_.set_write_timeout(read);
    client_.set_keep_alive(false);
    // cpp-httplib writes the request head and the body in separate send()s;
    // with Nagle's algorithm the body then waits for the server's delayed
    // ACK, about 40 ms per PUT on Linux loopback.
    client_.set_tcp_nodelay(true);
  }

  absl::StatusOr<Reply> List() override {
    return Finish("GET", std::string(kSwitchesPath), "", client_.Get(Path(""), Headers("")));
  }

  absl::StatusOr<Reply> Get(std::string_view name) override {
    return Suggest(name, Finish("GET", SwitchPath(name), name, client_.Get(Path(name), Headers(""))));
  }

  absl::StatusOr<Reply> Put(std::string_view name, const nlohmann::json& value) override {
    std::string actor;
    if (auto it = value.find("actor"); it != value.end() && it->is_string()) {
      actor = it->get<std::string>();
    }
    const std::string body = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return Suggest(name, Finish("PUT", SwitchPath(name), name,
                                client_.Put(Path(name), Headers(actor), body, "application/json")));
  }

  absl::StatusOr<Reply> Clear(std::string_view name, std::string_view actor,
                              std::string_view reason) override {
    return Suggest(name, Finish("DELETE", SwitchPath(name), name,
                                client_.Delete(Path(name), DeleteHeaders(actor, reason))));
  }

  absl::StatusOr<Reply> SetShed(const nlohmann::json& body) override {
    return PutSetting(kShedPath, body);
  }

  absl::StatusOr<Reply> ClearShed(std::string_view actor, std::string_view reason) override {
    return DeleteSetting(kShedPath, actor, reason);
  }

  absl::StatusOr<Reply> SetGovernor(const nlohmann::json& body) override {
    return PutSetting(kGovernorPath, body);
  }

  absl::StatusOr<Reply> ClearGovernor(std::string_view actor, std::string_view reason) override {
    return DeleteSetting(kGovernorPath, actor, reason);
  }

  // PUT of a layer-wide setting (shed level, governor) with the body's
  // actor as X-Degrade-Actor.
  absl::StatusOr<Reply> PutSetting(std::string_view path, const nlohmann::json& body) {
    std::string actor;
    if (auto it = body.find("actor"); it != body.end() && it->is_string()) {
      actor = it->get<std::string>();
    }
    const std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return Finish("PUT", std::string(path), "",
                  client_.Put(absl::StrCat(url_.base_path, AV(path)), Headers(actor), text,
                              "application/json"));
  }

  // DELETE of one.
  absl::StatusOr<Reply> DeleteSetting(std::string_view path, std::string_view actor,
                                      std::string_view reason) {
    return Finish("DELETE", std::string(path), "",
                  client_.Delete(absl::StrCat(url_.base_path, AV(path)),
                                 DeleteHeaders(actor, reason)));
  }

  // A DELETE's headers: the actor's, and the reason kept to one header line
  // (printable characters only), as the actor is.
  httplib::Headers DeleteHeaders(std::string_view actor, std::string_view reason) const {
    httplib::Headers headers = Headers(actor);
    std::string clean;
    for (char c : reason) {
      if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) clean.push_back(c);
    }
    if (!clean.empty()) headers.emplace("X-Degrade-Reason", std::move(clean));
    return headers;
  }

  // The change stream (who did what, as the service recorded it); a service
  // without one (404: an older version) is watched by polling its listing.
  absl::Status Watch(WatchStop& stop, const WatchSink& sink) override {
    // Stop() cuts a request short rather than wait for its timeout.
    const uint64_t id = stop.OnStop([this] { client_.stop(); });
    const std::string where = absl::StrCat("the admin endpoint at ", Where(), url_.base_path);
    // Long-polls end well within the read timeout (at most 2 s each).
    const int64_t wait_ms = std::clamp<int64_t>(
        absl::ToInt64Milliseconds(options_.read_timeout) - 1000, 0, 2000);
    bool no_stream = false;
    absl::Status status = StreamWatch(
        [&](std::optional<uint64_t> after) -> absl::StatusOr<nlohmann::json> {
          std::string route(kEventsPath);
          if (after) absl::StrAppend(&route, "?after=", *after, "&wait_ms=", wait_ms);
          absl::StatusOr<Reply> reply = Finish(
              "GET", route, "", client_.Get(absl::StrCat(url_.base_path, route), Headers("")));
          if (!reply.ok()) return reply.status();
          return std::move(reply->json);
        },
        where, options_.watch_interval, stop, sink, &no_stream);
    if (status.ok() && no_stream && !stop.stopped()) {
      status = PollWatch(*this, where, options_.watch_interval, stop, sink);
    }
    stop.RemoveOnStop(id);
    return status;
  }

 private:
  static std::string SwitchPath(std::string_view name) {
    return absl::StrCat(AV(kSwitchesPath), "/", AV(name));
  }
  // Names are checked against [a-z0-9._-] before they get here: no escaping.
  std::string Path(std::string_view name) const {
    return name.empty() ? absl::StrCat(url_.base_path, AV(kSwitchesPath))
                        : absl::StrCat(url_.base_path, SwitchPath(name));
  }

  httplib::Headers Headers(std::string_view actor) const {
    httplib::Headers h = {{"Accept", "application/json"}};
    if (!options_.token.empty()) h.emplace("Authorization", "Bearer " + options_.token);
    // The actor may come from $USER: keep it to one header line.
    std::string clean;
    for (char c : actor) {
      if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) clean.push_back(c);
    }
    if (!clean.empty()) h.emplace("X-Degrade-Actor", std::move(clean));
    return h;
  }

  // A switch the service does not define: ask for its listing and name the
  // defined switch nearest to `name` when one is close enough to be a typo.
  // Without an answer, or without a near name, the 404 stands as it was.
  absl::StatusOr<Reply> Suggest(std::string_view name, absl::StatusOr<Reply> reply) {
    if (reply.ok() || reply.status().code() != absl::StatusCode::kNotFound) return reply;
    absl::StatusOr<Reply> listing = List();
    if (!listing.ok() || !listing->json.is_object()) return reply;
    const auto switches = listing->json.find("switches");
    if (switches == listing->json.end() || !switches->is_array()) return reply;
    std::vector<std::string> names;
    for (const nlohmann::json& s : *switches) {
      if (!s.is_object()) continue;
      const auto n = s.find("name");
      const auto defined = s.find("defined");
      if (n == s.end() || !n->is_string()) continue;
      if (defined != s.end() && defined->is_boolean() && !defined->get<bool>()) continue;
      names.push_back(n->get<std::string>());
    }
    const std::string nearest = NearestName(name, names);
    if (nearest.empty()) return reply;
    return absl::NotFoundError(
        absl::StrCat(reply.status().message(), "; did you mean \"", nearest, "\"?"));
  }

  std::string Where() const { return absl::StrCat(url_.scheme, "://", url_.authority); }

  absl::Status Unreachable(httplib::Error e) const {
    const std::string what = ClientErrorText(e);
    switch (e) {
      case httplib::Error::Read:
        return absl::UnavailableError(absl::StrCat(
            "no answer from the admin endpoint at ", Where(), " within ",
            absl::FormatDuration(options_.read_timeout), " (", what,
            "): the service may be overloaded or not a degrade admin endpoint; try again, or "
            "check --admin"));
      case httplib::Error::SSLConnection:
      case httplib::Error::SSLLoadingCerts:
      case httplib::Error::SSLServerVerification:
        return absl::UnavailableError(absl::StrCat(
            "TLS with the admin endpoint at ", Where(), " failed (", what,
            "): check the scheme (the admin endpoint serves plain http unless a proxy adds "
            "TLS) and the certificate"));
      default:
        return absl::UnavailableError(absl::StrCat(
            "cannot reach the admin endpoint at ", Where(), " (", what,
            "): is the service running with DEGRADE_ADMIN_ADDR=", url_.authority, "?"));
    }
  }

  // The token goes into the Authorization header and nowhere else; the rest
  // of a request (route, switch name, body) comes from arguments that
  // degradectl refuses when one of them is the token. So a message is shown
  // as the service wrote it: rewriting substrings that look like the token
  // would only mangle it (a token "e" turned every "e" into "<token>").
  absl::StatusOr<Reply> Finish(std::string_view method, const std::string& route,
                               std::string_view name, const httplib::Result& result) const {
    if (!result) return Unreachable(result.error());
    const int status = result->status;
    const std::string& body = result->body;
    if (status >= 200 && status < 300) {
      Reply reply;
      reply.body = body;
      if (absl::StripAsciiWhitespace(body).empty()) return reply;
      internal::JsonProblem problem = internal::JsonProblem::kSyntax;
      absl::StatusOr<nlohmann::json> parsed = internal::ParseJsonStrict(body, "", &problem);
      if (!parsed.ok() && problem != internal::JsonProblem::kSyntax) {
        return absl::DataLossError(absl::StrCat(Where(), " answered ", AV(method), " ", route,
                                                " with ", status, " and a body that is not valid: ",
                                                parsed.status().message()));
      }
      if (!parsed.ok() || !parsed->is_object()) {
        return absl::DataLossError(absl::StrCat(
            Where(), " answered ", AV(method), " ", route, " with ", status,
            " and a body that is not a JSON object: is --admin pointing at a degrade admin "
            "endpoint?"));
      }
      reply.json = *std::move(parsed);
      return reply;
    }
    const std::string said = absl::StrCat("(", status, ": ", ServerMessage(body), ")");
    switch (status) {
      case 400:
        return absl::InvalidArgumentError(
            absl::StrCat("the service rejected the request ", said,
                         ": nothing was changed; fix the value and try again"));
      case 401:
        return absl::UnauthenticatedError(
            absl::StrCat("the service refused the token ", said, ": set ", options_.token_env,
                         " to the service's admin token (its DEGRADE_ADMIN_TOKEN)"));
      case 403:
        return absl::PermissionDeniedError(absl::StrCat(
            "the service refuses writes ", said,
            ": it runs without an admin token; restart it with DEGRADE_ADMIN_TOKEN set to "
            "allow changes"));
      case 404:
        if (name.empty()) {
          return absl::NotFoundError(absl::StrCat(
              "no degrade admin endpoint at ", Where(), url_.base_path, " ", said,
              ": check --admin (it should point at the service's DEGRADE_ADMIN_ADDR)"));
        }
        return absl::NotFoundError(absl::StrCat("the service does not define a switch named \"",
                                                AV(name), "\" ", said,
                                                ": 'degradectl list' shows the names"));
      case 405:
        return absl::UnimplementedError(absl::StrCat(
            "the service does not accept ", AV(method), " ", route, " ", said,
            ": is --admin pointing at a degrade admin endpoint of a compatible version?"));
      case 413:
        return absl::InvalidArgumentError(
            absl::StrCat("the request is too large for the service ", said, ": shorten --reason"));
      default:
        if (status >= 500) {
          return absl::InternalError(
              absl::StrCat("the service failed ", said,
                           ": try again; 'degradectl get' shows whether anything changed"));
        }
        return absl::UnknownError(absl::StrCat("unexpected answer to ", AV(method), " ", route, " ",
                                               said, ": check --admin"));
    }
  }

  AdminOptions options_;
  HttpUrl url_;
  httplib::Client client_;
};

}  // namespace

absl::StatusOr<HttpUrl> ParseHttpUrl(std::string_view url, std::string_view option,
                                     std::string_view example) {
  const std::string accepted = absl::StrCat(
      "accepted: http://HOST:PORT, https://HOST[:PORT] or HOST:PORT, e.g. ", AV(example));
  HttpUrl out;
  std::string_view rest = url;
  if (const size_t p = rest.find("://"); p != std::string_view::npos) {
    out.scheme = absl::AsciiStrToLower(AV(rest.substr(0, p)));
    rest.remove_prefix(p + 3);
    if (out.scheme != "http" && out.scheme != "https") {
      return absl::InvalidArgumentError(absl::StrCat(
          AV(option), " \"", std::string(url), "\": scheme is not http or https; ", accepted));
    }
  } else {
    out.scheme = "http";
  }
  const size_t slash = rest.find('/');
  out.authority = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) {
    out.base_path = std::string(rest.substr(slash));
    while (!out.base_path.empty() && out.base_path.back() == '/') out.base_path.pop_back();
  }
  // Host: a bracketed IPv6 literal or a name/IPv4 of safe characters; then an
  // optional numeric port (required without a scheme, so that a typo like
  // "--admin list" is caught).
  std::string_view auth = out.authority;
  std::string_view host, port;
  if (absl::StartsWith(AV(auth), "[")) {
    const size_t close = auth.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(AV(option), " \"", std::string(url), "\": unclosed '[' in host; ", accepted));
    }
    host = auth.substr(0, close + 1);
    auth.remove_prefix(close + 1);
    if (!auth.empty() && auth.front() != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat(AV(option), " \"", std::string(url), "\": junk after host; ", accepted));
    }
    if (!auth.empty()) port = auth.substr(1);
  } else {
    const size_t colon = auth.rfind(':');
    host = auth.substr(0, colon);
    if (colon != std::string_view::npos) port = auth.substr(colon + 1);
    for (char c : host) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
        return absl::InvalidArgumentError(absl::StrCat(
            AV(option), " \"", std::string(url), "\": host has '", std::string(1, c), "'; ", accepted));
      }
    }
  }
  if (host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(option), " \"", std::string(url), "\": no host; ", accepted));
  }
  const bool had_scheme = url.find("://") != std::string_view::npos;
  int port_number = 0;
  if (!port.empty() || !had_scheme) {
    if (!absl::SimpleAtoi(AV(port), &port_number) || port_number < 1 || port_number > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat(AV(option), " \"", std::string(url), "\": port \"", std::string(port),
                       "\" is not a number from 1 to 65535; ", accepted));
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Backend>> MakeAdminBackend(AdminOptions options) {
  absl::StatusOr<HttpUrl> url = ParseHttpUrl(options.url, "--admin");
  if (!url.ok()) return url.status();
  return std::unique_ptr<Backend>(new AdminBackend(std::move(options), *std::move(url)));
}

}  // namespace degrade::ctl
