// The admin endpoint's routes (routes.h).
#include "admin/routes.h"

#include <algorithm>
#include <iterator>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "admin/admin_write.h"
#include "admin/auth.h"
#include "admin/console_html.h"
#include "admin/metrics.h"
#include "core/cause.h"
#include "core/listing_json.h"
#include "core/str_util.h"
#include "degrade/snapshot.h"

namespace degrade::internal {
namespace {

constexpr std::string_view kSwitchesPath = "/degrade/v1/switches";
constexpr std::string_view kEventsPath = "/degrade/v1/events";
constexpr std::string_view kShedPath = "/degrade/v1/shed";
constexpr std::string_view kGovernorPath = "/degrade/v1/governor";

// This response ends its connection: the request may have left bytes on the
// wire (an unread body) that must not be read as the next request. The
// client is told, and the server's connection loop closes the connection
// after a response that says so (ConnectionStream::must_close).
void CloseAfterResponse(httplib::Response& res) { res.set_header("Connection", "close"); }

// The methods whose body cpp-httplib reads before routing (its
// detail::expect_content).
bool MethodBodyIsRead(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE" ||
         method == "PRI";
}

// The JSON path of a switch entry, quoted as ParseSnapshot quotes it.
std::string SwitchPath(std::string_view name) {
  const bool plain = std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
  return plain ? absl::StrCat("switches.", ToAbsl(name))
               : absl::StrCat("switches.\"", ToAbsl(name), "\"");
}

bool IsRead(const httplib::Request& req) { return req.method == "GET" || req.method == "HEAD"; }

}  // namespace

void Routes::Install(httplib::Server& server) {
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request&, httplib::Response& res) { return LibraryError(res); }));
  server.set_exception_handler(
      [this](const httplib::Request&, httplib::Response& res, const std::exception_ptr&) {
        SendError(res, 500, "internal error while handling the request");
      });
  const auto handle = [this](const httplib::Request& req, httplib::Response& res) {
    Handle(req, res);
  };
  // Every path reaches Handle, which answers 404 and 405 itself.
  const std::string any = ".*";
  server.Get(any, handle);
  server.Put(any, handle);
  server.Delete(any, handle);
  server.Post(any, handle);
  server.Patch(any, handle);
  server.Options(any, handle);
  // Checks on every request before routing and before any body is read;
  // then methods the library has no handler list for (TRACE, CONNECT, ...).
  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!Admissible(req, res)) {
      CloseAfterResponse(res);  // a body may still be on the wire
      if (OfrepRoutes::Handles(req.path)) OfrepRoutes::OfrepErrorShape(res);
      return httplib::Server::HandlerResponse::Handled;
    }
    static const std::string_view kRouted[] = {"GET",  "HEAD",  "PUT",    "DELETE",
                                               "POST", "PATCH", "OPTIONS"};
    if (std::find(std::begin(kRouted), std::end(kRouted), req.method) != std::end(kRouted)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    Handle(req, res);
    return httplib::Server::HandlerResponse::Handled;
  });
}

void Routes::SendJson(httplib::Response& res, int status, const nlohmann::json& body) const {
  res.status = status;
  // cpp-httplib 0.11 takes a const std::string&: nothing to move.
  res.set_content(Dump(body), "application/json");
}

void Routes::SendError(httplib::Response& res, int status, std::string_view message) const {
  SendJson(res, status, {{"error", std::string(message)}});
}

void Routes::SendError(httplib::Response& res, int status, const absl::Status& error) const {
  SendError(res, status, std::string_view(error.message().data(), error.message().size()));
}

// The checks that come before routing. False: `res` holds the error.
// The token must never reach a response body or a log line, and the routes
// quote what requests carry (paths, Host, Origin, Content-Type, actors,
// switch values that every reader then sees). So a request that carries the
// token anywhere but in its Authorization header is refused before any of
// it is quoted, rather than scrubbed from the output afterwards (which
// garbled every text that happened to contain a short token). With tokens of
// at least kMinAdminTokenBytes, no honest request matches by chance. Names
// where the token is, or an empty view.
std::string_view Routes::WhereTokenIs(const httplib::Request& req) const {
  const std::string_view token = config_.token;
  if (token.empty()) return {};
  const auto has = [&](std::string_view text) {
    return text.find(token) != std::string_view::npos;
  };
  if (has(req.method)) return "method";
  if (has(req.target) || has(req.path)) return "path";
  for (const auto& [name, value] : req.params) {
    if (has(name) || has(value)) return "query string";
  }
  for (const auto& [name, value] : req.headers) {
    if (has(name)) return "header names";
    if (!absl::EqualsIgnoreCase(name, "Authorization") && has(value)) return "headers";
  }
  return {};
}

void Routes::RefuseCarriedToken(const httplib::Request& req, httplib::Response& res,
                                std::string_view where) {
  LogRefusal(absl::StrCat("400: the request carries the admin token in its ", ToAbsl(where)),
             absl::StrCat("admin: a request from ", LogText(req.remote_addr),
                          " refused (400): it carries the admin token in its ", ToAbsl(where)));
  SendError(res, 400,
            absl::StrCat("the request carries the admin token in its ", ToAbsl(where),
                         ", where the endpoint would quote it; refused so that the token never "
                         "reaches a response or a log line; send it only as Authorization: "
                         "Bearer <DEGRADE_ADMIN_TOKEN>"));
}

bool Routes::Admissible(const httplib::Request& req, httplib::Response& res) {
  if (const std::string_view where = WhereTokenIs(req); !where.empty()) {
    RefuseCarriedToken(req, res, where);
    return false;
  }
  // DNS rebinding: a page on evil.example whose name later resolves to
  // 127.0.0.1 is same-origin with this endpoint in the browser's eyes, but
  // its requests still say "Host: evil.example". Browsers always send Host;
  // clients that send none are not browsers.
  if (req.has_header("Host")) {
    const std::string& host = req.get_header_value("Host");
    if (!HostAllowed(host, config_.allowed_hosts)) {
      SendError(res, 421,
                absl::StrCat("Host \"", ClipForMessage(host),
                             "\" is not a name of this endpoint (a defence against DNS "
                             "rebinding); accepted: an IP address, localhost",
                             config_.allowed_hosts.empty()
                                 ? std::string(", or a name listed in admin_allowed_hosts "
                                               "(DEGRADE_ADMIN_ALLOWED_HOSTS)")
                                 : absl::StrCat(", ", absl::StrJoin(config_.allowed_hosts, ", ")),
                             ", with or without a port"));
      return false;
    }
  }
  // Compressed request bodies could inflate far beyond max_body_bytes
  // inside cpp-httplib before any check sees them.
  if (req.has_header("Content-Encoding") &&
      !absl::EqualsIgnoreCase(ToAbsl(req.get_header_value("Content-Encoding")), "identity")) {
    SendError(res, 415,
              absl::StrCat("Content-Encoding \"",
                           ClipForMessage(req.get_header_value("Content-Encoding")),
                           "\" is not accepted; send the body uncompressed"));
    return false;
  }
  if (req.has_header("Content-Length")) {
    uint64_t length = 0;
    if (!absl::SimpleAtoi(ToAbsl(req.get_header_value("Content-Length")), &length) ||
        length > config_.max_body_bytes) {
      SendError(res, 413,
                absl::StrCat("request body is larger than ", config_.max_body_bytes,
                             " bytes; accepted: a JSON body of at most that size (a switch "
                             "value, or a snapshot for the bulk write)"));
      return false;
    }
  }
  // Cross-site writes: a browser sends Origin with every cross-origin
  // request and with same-origin writes; the console's own requests carry
  // this endpoint's origin. Non-browser clients send no Origin.
  if (!IsRead(req) && req.has_header("Origin")) {
    const std::string& origin = req.get_header_value("Origin");
    const bool tls = !config_.tls_cert_file.empty();
    if (!OriginMatchesHost(origin, req.get_header_value("Host"), tls)) {
      SendError(res, 403,
                absl::StrCat("cross-origin ", ClipForMessage(req.method), " refused: Origin \"",
                             ClipForMessage(origin), "\" is not this endpoint (",
                             tls ? "https" : "http", "://",
                             ClipForMessage(req.get_header_value("Host")),
                             "; scheme, host and port must match); accepted: writes from the "
                             "console served by this endpoint, or from a client that "
                             "sends no Origin header (curl, degradectl)"));
      return false;
    }
  }
  // A body is only ever a JSON document. Checked before the library reads
  // (and, for forms, parses) it; this also refuses what a cross-site page
  // can send without a preflight (forms, text/plain).
  const bool has_body =
      req.has_header("Transfer-Encoding") ||
      (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0");
  if (has_body && !JsonBody(req, res)) return false;
  return true;
}

// Writes carry JSON: anything else (a form, text/plain: what a cross-site
// page can send without a preflight) gets 415.
bool Routes::JsonBody(const httplib::Request& req, httplib::Response& res) {
  const std::string& type = req.get_header_value("Content-Type");
  const absl::string_view media =
      absl::StripAsciiWhitespace(absl::string_view(type).substr(0, type.find(';')));
  if (absl::EqualsIgnoreCase(media, "application/json")) return true;
  SendError(res, 415,
            absl::StrCat("Content-Type \"", ClipForMessage(type),
                         "\" is not accepted for a write; accepted: application/json "
                         "(curl: -H 'Content-Type: application/json')"));
  return false;
}

// Errors the library produces before a handler runs.
httplib::Server::HandlerResponse Routes::LibraryError(httplib::Response& res) {
  if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // ours
  CloseAfterResponse(res);
  // The request line, header and body limits are answered by the stream
  // (connection_stream.h); these are the library's own findings.
  switch (res.status) {
    case 413:
      SendError(res, 413,
                absl::StrCat("request body is larger than ", config_.max_body_bytes,
                             " bytes; accepted: a JSON body of at most that size (a switch "
                             "value, or a snapshot for the bulk write)"));
      break;
    case 400:
      SendError(res, 400, "malformed HTTP request (request line, headers or body)");
      break;
    default:
      SendError(res, res.status, "request failed");
      break;
  }
  return httplib::Server::HandlerResponse::Handled;
}

void Routes::Handle(const httplib::Request& req, httplib::Response& res) {
  // cpp-httplib reads a body only for POST, PUT, PATCH and DELETE. A body
  // sent with any other method stays in the stream and would be read as
  // the next request on this connection (found by fuzz/admin_request_fuzz:
  // a GET with a body made the client's next PUT a 400, and a body that
  // is itself a request would run): answer this request, then close.
  if (!MethodBodyIsRead(req.method) &&
      (req.has_header("Transfer-Encoding") ||
       (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0"))) {
    CloseAfterResponse(res);
  }
  const std::string& path = req.path;
  if (path == "/") {
    if (!IsRead(req)) return MethodNotAllowed(req, res, "GET, HEAD");
    res.status = 200;
    res.set_content(ConsolePage(), "text/html; charset=utf-8");
    return;
  }
  if (path == "/healthz") {
    if (!IsRead(req)) return MethodNotAllowed(req, res, "GET, HEAD");
    return SendJson(res, 200, {{"status", "ok"}});
  }
  if (path == "/metrics") {
    if (!IsRead(req)) return MethodNotAllowed(req, res, "GET, HEAD");
    res.status = 200;
    res.set_content(PrometheusText(registry_), std::string(kPrometheusContentType));
    return;
  }
  if (path == kEventsPath && events_ != nullptr) {
    if (!IsRead(req)) return MethodNotAllowed(req, res, "GET, HEAD");
    absl::StatusOr<nlohmann::json> reply = events_->Serve(req);
    if (!reply.ok()) return SendError(res, 400, reply.status());
    return SendJson(res, 200, *reply);
  }
  // --- fleet panel: route ---
  if (path == "/degrade/v1/fleet") {
    if (!IsRead(req)) return MethodNotAllowed(req, res, "GET, HEAD");
    if (!config_.fleet) {
      return SendError(res, 404,
                       "no etcd configured in this process (DEGRADE_ETCD_ENDPOINTS): the fleet "
                       "view needs the etcd the instances register in");
    }
    absl::StatusOr<std::string> fleet = config_.fleet();
    if (!fleet.ok()) return SendError(res, 502, fleet.status());
    res.status = 200;
    res.set_content(*fleet, "application/json");
    return;
  }
  // --- end fleet panel ---
  if (path == kSwitchesPath) {
    if (req.method == "PUT") return PutSwitches(req, res);
    if (!IsRead(req)) return MethodNotAllowed(req, res, "GET, HEAD, PUT");
    nlohmann::json listing = ListingJson(registry_);
    rates_.AddToListing(listing);
    return SendJson(res, 200, listing);
  }
  if (path == kShedPath) {
    if (req.method == "PUT") return PutShed(req, res);
    if (req.method == "DELETE") return DeleteShed(req, res);
    if (!IsRead(req)) return MethodNotAllowed(req, res, "GET, HEAD, PUT, DELETE");
    return SendJson(res, 200, {{"shed", ShedsJson(registry_.Sheds())}});
  }
  if (path == kGovernorPath) {
    if (req.method == "PUT") return PutGovernor(req, res);
    if (req.method == "DELETE") return DeleteGovernor(req, res);
    if (!IsRead(req)) return MethodNotAllowed(req, res, "GET, HEAD, PUT, DELETE");
    return SendJson(res, 200, {{"governor", GovernorStatusJson(registry_.governor())}});
  }
  if (absl::StartsWith(path, absl::StrCat(ToAbsl(kSwitchesPath), "/"))) {
    const std::string name = path.substr(kSwitchesPath.size() + 1);
    if (!name.empty() && name.find('/') == std::string::npos) {
      if (IsRead(req)) return GetSwitch(name, res);
      if (req.method == "PUT") return PutSwitch(name, req, res);
      if (req.method == "DELETE") return DeleteSwitch(name, req, res);
      return MethodNotAllowed(req, res, "GET, HEAD, PUT, DELETE");
    }
  }
  if (OfrepRoutes::Handles(path)) return ofrep_.Handle(req, res);
  SendError(res, 404,
            absl::StrCat("no route for ", ClipForMessage(path),
                         "; routes: GET|PUT /degrade/v1/switches, "
                         "GET|PUT|DELETE /degrade/v1/switches/{name}, "
                         "GET|PUT|DELETE /degrade/v1/shed, GET|PUT|DELETE /degrade/v1/governor, "
                         "GET /degrade/v1/events, GET /degrade/v1/fleet, "
                         "POST /ofrep/v1/evaluate/flags[/{key}], GET /ofrep/v1/configuration, "
                         "GET /metrics, GET /healthz, GET /"));
}

void Routes::MethodNotAllowed(const httplib::Request& req, httplib::Response& res,
                              std::string_view allow) {
  SendError(res, 405,
            absl::StrCat("method ", ClipForMessage(req.method), " is not allowed on ",
                         ClipForMessage(req.path), "; allowed: ", ToAbsl(allow)));
  res.set_header("Allow", std::string(allow));
}

void Routes::GetSwitch(const std::string& name, httplib::Response& res) {
  absl::StatusOr<SwitchInfo> info = registry_.Get(name);
  if (!info.ok()) return SendError(res, 404, info.status());
  nlohmann::json body = SwitchInfoJson(*info);
  rates_.AddTo(body);
  SendJson(res, 200, body);
}

// The log sink. Nothing a request carries reaches it unless Admissible
// (and PutSwitch, for the body) found no token in it, and nothing reaches it
// raw: request text goes through LogText where a line is built, and every
// line through LogLine here, so that no handler can let a control
// character or a line break through (docs/security.md, "Log injection").
void Routes::Audit(LogLevel level, std::string_view line) const {
  registry_.Log(level, LogLine(line));
}

// One line per kind of refusal per interval, with a count of the rest: a
// client repeating a refused request cannot flood the log (docs/security.md,
// "Log flooding").
void Routes::LogRefusal(std::string_view problem, std::string line) {
  const absl::Time now = registry_.clock().Now();
  for (const std::string& l : refusals_.Refused(problem, std::move(line), now)) {
    Audit(LogLevel::kWarning, l);
  }
}

Routes::~Routes() {
  for (const std::string& l : refusals_.Flush(registry_.clock().Now())) {
    Audit(LogLevel::kWarning, l);
  }
}

// True when the request carries the configured token; otherwise answers
// 403 (no token configured) or 401. Never logs or echoes the token.
bool Routes::Authorized(const httplib::Request& req, httplib::Response& res) {
  const std::string* authorization = nullptr;
  std::string header;
  if (req.has_header("Authorization")) {
    header = req.get_header_value("Authorization");
    authorization = &header;
  }
  const AuthVerdict verdict = CheckBearer(authorization, config_.token);
  if (verdict.status == 0) return true;
  LogRefusal(absl::StrCat(verdict.status, ": ", ToAbsl(verdict.problem)),
             absl::StrCat("admin: ", LogText(req.method), " ", LogText(req.path), " from ",
                          LogText(req.remote_addr), " refused (", verdict.status,
                          "): ", ToAbsl(verdict.problem)));
  SendError(res, verdict.status, verdict.problem);
  if (verdict.status == 401) res.set_header("WWW-Authenticate", "Bearer realm=\"degrade\"");
  return false;
}

void Routes::PutSwitch(const std::string& name, const httplib::Request& req,
                       httplib::Response& res) {
  if (!Authorized(req, res)) return;
  if (!config_.token.empty() && req.body.find(config_.token) != std::string::npos) {
    return RefuseCarriedToken(req, res, "body");
  }
  if (registry_.Find(name) == nullptr) return NotDefined(name, res);
  std::vector<std::string> warnings;
  absl::StatusOr<SwitchValue> value =
      ParseSwitchValue(req.body, "admin PUT", SwitchPath(name), registry_.clock().Now(), &warnings);
  if (!value.ok()) return SendError(res, 400, value.status());
  absl::Status future =
      CheckExpiryInFuture(*value, "admin PUT", SwitchPath(name), registry_.clock().Now());
  if (!future.ok()) return SendError(res, 400, future);
  if (value->actor.empty()) {
    const std::string& header = req.get_header_value("X-Degrade-Actor");
    value->actor = header.empty() ? "admin" : header;
  }
  const std::string summary = SwitchValueToJson(*value);
  const std::string actor = value->actor;
  // The change events name the request's actor and reason (docs/audit.md).
  Cause cause = MakeCause(value->actor, value->reason);
  if (absl::Status s = SetOverrideWithCause(registry_, name, *std::move(value),
                                            absl::ZeroDuration(), std::move(cause));
      !s.ok()) {
    return SendError(res, s.code() == absl::StatusCode::kNotFound ? 404 : 400, s);
  }
  for (const std::string& w : warnings) Audit(LogLevel::kWarning, w);
  Audit(LogLevel::kInfo, absl::StrCat("admin: ", ClipForMessage(actor), " from ", req.remote_addr,
                                      " set ", name, " to ", ClipForMessage(summary)));
  absl::StatusOr<SwitchInfo> info = registry_.Get(name);
  if (!info.ok()) return NotDefined(name, res);
  nlohmann::json body = SwitchInfoJson(*info);
  if (!warnings.empty()) body["warnings"] = warnings;
  SendJson(res, 200, body);
}

void Routes::DeleteSwitch(const std::string& name, const httplib::Request& req,
                          httplib::Response& res) {
  if (!Authorized(req, res)) return;
  const std::string& actor = req.get_header_value("X-Degrade-Actor");
  // The events name who cleared it and why (X-Degrade-Reason); without a
  // reason, what was cleared (docs/audit.md).
  if (absl::Status s = ClearOverrideWithCause(
          registry_, name,
          MakeCause(actor.empty() ? "admin" : actor, req.get_header_value("X-Degrade-Reason")));
      !s.ok()) {
    return SendError(res, s.code() == absl::StatusCode::kNotFound ? 404 : 400, s);
  }
  Audit(LogLevel::kInfo,
        absl::StrCat("admin: ", ClipForMessage(actor.empty() ? "admin" : actor), " from ",
                     req.remote_addr, " cleared the override of ", name));
  absl::StatusOr<SwitchInfo> info = registry_.Get(name);
  if (!info.ok()) return NotDefined(name, res);
  SendJson(res, 200, SwitchInfoJson(*info));
}

// The actor of an entry that names none: the X-Degrade-Actor header, else
// "admin".
std::string Routes::DefaultActor(const httplib::Request& req) const {
  const std::string& header = req.get_header_value("X-Degrade-Actor");
  return header.empty() ? "admin" : header;
}

// PUT /degrade/v1/switches: a whole snapshot becomes the admin layer, all or
// nothing (admin_write.h has what the body may hold).
void Routes::PutSwitches(const httplib::Request& req, httplib::Response& res) {
  if (!Authorized(req, res)) return;
  if (!config_.token.empty() && req.body.find(config_.token) != std::string::npos) {
    return RefuseCarriedToken(req, res, "body");
  }
  absl::StatusOr<BulkWrite> write =
      ParseBulkWrite(req.body, registry_.clock().Now(), DefaultActor(req),
                     [this](std::string_view name) { return registry_.Find(name) != nullptr; });
  if (!write.ok()) return SendError(res, 400, write.status());
  const size_t switches = write->snapshot.switches.size();
  const size_t groups = write->snapshot.groups.size();
  const bool all = write->snapshot.all.has_value();
  // The change events name the write's cause: the actor and reason its
  // entries agree on (admin_write.h), else the header's actor (docs/audit.md).
  absl::Status applied =
      ApplySnapshotWithCause(registry_, Layer::kAdmin, std::move(write->snapshot),
                             kBulkWriteSource, MakeCause(write->actor, write->reason));
  if (!applied.ok()) return SendError(res, 400, applied);
  for (const std::string& w : write->warnings) Audit(LogLevel::kWarning, w);
  Audit(LogLevel::kInfo,
        absl::StrCat("admin: ", LogText(write->actor), " from ", LogText(req.remote_addr),
                     " replaced the admin layer (", switches,
                     switches == 1 ? " switch, " : " switches, ", groups,
                     groups == 1 ? " group" : " groups", all ? ", all" : "",
                     write->ttl_s ? absl::StrCat(", ttl_s ", *write->ttl_s) : std::string(),
                     "): ", LogText(write->reason)));
  nlohmann::json body = ListingJson(registry_);
  if (!write->warnings.empty()) body["warnings"] = write->warnings;
  SendJson(res, 200, body);
}

// The switches the admin layer's shed decides, by name.
std::vector<std::string> Routes::ShedByAdmin() const {
  std::vector<std::string> out;
  for (const SwitchInfo& info : registry_.List()) {
    if (info.defined && info.deciding_layer == Layer::kAdmin && info.scope == "shed") {
      out.push_back(info.name);
    }
  }
  return out;
}

// PUT /degrade/v1/shed: the admin layer's shed level (docs/shedding.md).
void Routes::PutShed(const httplib::Request& req, httplib::Response& res) {
  if (!Authorized(req, res)) return;
  if (!config_.token.empty() && req.body.find(config_.token) != std::string::npos) {
    return RefuseCarriedToken(req, res, "body");
  }
  std::vector<std::string> warnings;
  absl::StatusOr<Shed> shed =
      ParseShedWrite(req.body, registry_.clock().Now(), DefaultActor(req), &warnings);
  if (!shed.ok()) return SendError(res, 400, shed.status());
  const std::string text = ShedText(*shed);
  const std::string actor = shed->actor;
  // The change events name the request's actor, and the shed's text as the
  // reason, so that every switch it turns off says why.
  if (absl::Status s = SetShedWithCause(registry_, *std::move(shed), absl::ZeroDuration(),
                                        MakeCause(actor, text));
      !s.ok()) {
    return SendError(res, 400, s);
  }
  for (const std::string& w : warnings) Audit(LogLevel::kWarning, w);
  Audit(LogLevel::kInfo, absl::StrCat("admin: ", LogText(actor), " from ", LogText(req.remote_addr),
                                      " set the admin layer's ", LogText(text)));
  nlohmann::json body = {{"shed", ShedsJson(registry_.Sheds())}, {"switches", ShedByAdmin()}};
  if (!warnings.empty()) body["warnings"] = warnings;
  SendJson(res, 200, body);
}

// DELETE /degrade/v1/shed: clears the admin layer's shed; 200 whether or
// not there was one, saying which.
void Routes::DeleteShed(const httplib::Request& req, httplib::Response& res) {
  if (!Authorized(req, res)) return;
  const std::string actor = DefaultActor(req);
  const std::optional<Shed> before = registry_.LayerSnapshot(Layer::kAdmin).shed;
  if (absl::Status s =
          ClearShedWithCause(registry_, MakeCause(actor, req.get_header_value("X-Degrade-Reason")));
      !s.ok()) {
    return SendError(res, 400, s);
  }
  const std::string message = before ? absl::StrCat(DescribeShed(Layer::kAdmin, *before), " cleared")
                                     : std::string("the admin layer had no shed; nothing changed");
  if (before) {
    Audit(LogLevel::kInfo, absl::StrCat("admin: ", LogText(actor), " from ",
                                        LogText(req.remote_addr), " cleared the ", LogText(message)));
  }
  SendJson(res, 200, {{"cleared", before.has_value()},
                      {"message", message},
                      {"shed", ShedsJson(registry_.Sheds())}});
}

// PUT /degrade/v1/governor: the admin layer's governor setting
// (docs/governor.md): "off", "on", or {"enabled", "cap", "reason", "actor",
// "ttl_s" | "expires_at"}.
void Routes::PutGovernor(const httplib::Request& req, httplib::Response& res) {
  if (!Authorized(req, res)) return;
  if (!config_.token.empty() && req.body.find(config_.token) != std::string::npos) {
    return RefuseCarriedToken(req, res, "body");
  }
  const absl::Time now = registry_.clock().Now();
  std::vector<std::string> warnings;
  absl::StatusOr<GovernorSetting> setting =
      ParseGovernorSetting(req.body, "request", "governor", now, &warnings);
  if (!setting.ok()) return SendError(res, 400, setting.status());
  if (setting->expires_at.has_value() && *setting->expires_at <= now) {
    return SendError(res, 400,
                     absl::StrCat("request: governor.expires_at: ",
                                  absl::FormatTime(absl::RFC3339_full, *setting->expires_at,
                                                   absl::UTCTimeZone()),
                                  " is in the past; accepted: a time after now, or ttl_s"));
  }
  if (!setting->enabled.has_value() && !setting->cap.has_value()) {
    return SendError(res, 400,
                     "request: governor: says neither enabled nor cap; accepted: \"on\", "
                     "\"off\", or an object with enabled (true or false) and/or cap (1-9)");
  }
  if (setting->actor.empty()) setting->actor = DefaultActor(req);
  const std::string actor = setting->actor;
  std::string what = setting->enabled.has_value() && !*setting->enabled
                         ? std::string("turned the governor off")
                         : setting->cap.has_value()
                               ? absl::StrCat("capped the governor at tier ", *setting->cap)
                               : std::string("turned the governor on");
  std::string reason = setting->reason.empty() ? absl::StrCat("admin: ", actor, " ", what)
                                               : setting->reason;
  if (absl::Status s =
          SetGovernorSettingWithCause(registry_, *std::move(setting), MakeCause(actor, reason));
      !s.ok()) {
    return SendError(res, 400, s);
  }
  for (const std::string& w : warnings) Audit(LogLevel::kWarning, w);
  Audit(LogLevel::kInfo, absl::StrCat("admin: ", LogText(actor), " from ", LogText(req.remote_addr),
                                      " ", what, ": ", LogText(reason)));
  nlohmann::json body = {{"governor", GovernorStatusJson(registry_.governor())}};
  if (!warnings.empty()) body["warnings"] = warnings;
  SendJson(res, 200, body);
}

// DELETE /degrade/v1/governor: removes the admin layer's governor setting;
// 200 whether or not there was one, saying which.
void Routes::DeleteGovernor(const httplib::Request& req, httplib::Response& res) {
  if (!Authorized(req, res)) return;
  const std::string actor = DefaultActor(req);
  const bool had = registry_.LayerSnapshot(Layer::kAdmin).governor.has_value();
  if (absl::Status s = SetGovernorSettingWithCause(
          registry_, std::nullopt, MakeCause(actor, req.get_header_value("X-Degrade-Reason")));
      !s.ok()) {
    return SendError(res, 400, s);
  }
  const std::string message =
      had ? std::string("the admin layer's governor setting was cleared")
          : std::string("the admin layer had no governor setting; nothing changed");
  if (had) {
    Audit(LogLevel::kInfo, absl::StrCat("admin: ", LogText(actor), " from ",
                                        LogText(req.remote_addr), " cleared ", LogText(message)));
  }
  SendJson(res, 200, {{"cleared", had},
                      {"message", message},
                      {"governor", GovernorStatusJson(registry_.governor())}});
}

void Routes::NotDefined(const std::string& name, httplib::Response& res) {
  SendError(res, 404,
            absl::StrCat("switch \"", ClipForMessage(name),
                         "\" is not defined in this process; GET "
                         "/degrade/v1/switches lists the ones that are"));
}

}  // namespace degrade::internal
