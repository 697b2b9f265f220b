// Fuzz target: admin endpoint requests (DESIGN section 7): paths, methods,
// headers and bodies, through a real AdminServer on 127.0.0.1 (started once,
// in LLVMFuzzerInitialize) and a real HTTP client, so the route, token and
// body handling run exactly as in production, request parsing included.
//
// Input, first byte:
//   even: a structured request (FuzzedDataProvider): a method, a path (one
//         of the routes, a route plus a fuzzed switch name, or fuzzed
//         bytes), an Authorization header (none, right token, wrong token,
//         fuzzed), an X-Degrade-Actor header, then the body;
//   odd:  the rest of the input sent as raw bytes on a fresh connection,
//         which is then half-closed, so the server sees exactly those bytes
//         and then the end of the stream.
//
// Properties checked:
//   - the server always answers a structured request; the status is one the
//     endpoint documents (200, 400, 401, 403, 404, 405, 413, 414), never 500;
//   - every error body is a JSON object with a string "error"; every JSON
//     route's 200 body is JSON;
//   - the token never appears in a response (body or headers);
//   - nothing changes on error: the admin layer is exactly as before unless
//     the answer was 200 to a PUT or DELETE;
//   - a PUT that carries the token, names a defined switch and a body that
//     ParseSwitchValue accepts (with an expiry, if any, still ahead) gets 200
//     and the admin layer then holds that value (actor from X-Degrade-Actor,
//     else "admin"); a bulk PUT on /degrade/v1/switches with the token gets
//     200 and the layer becomes exactly what ParseBulkWrite reads when it
//     accepts the body, else 400; a DELETE with the
//     token on a defined switch gets 200 and removes the entry; a PUT
//     without the right token never gets 200;
//   - for raw bytes: any answer is an HTTP/1.1 status line with one of the
//     statuses above, and the layer changes only after a 200. A head cut
//     short by the half-close is answered at once (400), so an input costs
//     milliseconds, not the head timeout.
#include <arpa/inet.h>
#include <fuzzer/FuzzedDataProvider.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "admin/admin_server.h"
#include "admin/admin_write.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "fuzz_check.h"
#include "fuzz_util.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace {

using degrade::Layer;
using degrade::Snapshot;

constexpr std::string_view kToken = "fuzz-admin-token-4f9c2e1b7d";
constexpr size_t kMaxBody = 4096;
const std::vector<std::string> kDefined = {"recs", "search.suggest", "payments.fraud-score"};

struct Fixture {
  std::unique_ptr<degrade::Registry> registry;
  std::unique_ptr<degrade::internal::AdminServer> server;
  std::unique_ptr<httplib::Client> client;
  Snapshot baseline;  // the admin layer at the start of every input
};

Fixture* fixture = nullptr;

void ResetAdminLayer() {
  const absl::Status s = fixture->registry->ApplySnapshot(Layer::kAdmin, fixture->baseline, "reset");
  DEGRADE_FUZZ_CHECK(s.ok(), s.ToString());
}

bool DocumentedStatus(int status) {
  // docs/admin.md#errors; 500 is never documented, so a 500 is a finding.
  static const std::set<int> kDocumented = {200, 400, 401, 403, 404, 405, 408,
                                            413, 414, 415, 421, 431, 503};
  return kDocumented.contains(status);
}

// `sent_elsewhere`: the request itself carried the token outside its
// Authorization header (in the path, a header, the body), so an echo of
// that text is not a leak.
void CheckNoToken(std::string_view text, bool sent_elsewhere) {
  if (sent_elsewhere) return;
  DEGRADE_FUZZ_CHECK(text.find(kToken) == std::string_view::npos, "token echoed: " + std::string(text));
}

// True when raw request bytes hold the token outside Authorization lines.
bool TokenOutsideAuthorization(std::string_view bytes) {
  size_t start = 0;
  while (start <= bytes.size()) {
    size_t end = bytes.find('\n', start);
    if (end == std::string_view::npos) end = bytes.size();
    std::string_view line = bytes.substr(start, end - start);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    std::string lower(line.substr(0, 14));
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower != "authorization:" && line.find(kToken) != std::string_view::npos) return true;
    start = end + 1;
  }
  return false;
}

// Percent-encodes what cannot go into a request line as is, so the server
// decodes the path back to exactly these bytes ('%' itself is left alone:
// the fuzzer may write its own escapes).
std::string RequestTarget(std::string_view path) {
  std::string out;
  constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : path) {
    const auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b >= 0x7F || c == '#') {
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 0xF];
    } else {
      out += c;
    }
  }
  if (out.empty() || out[0] != '/') out.insert(out.begin(), '/');
  return out;
}

// Header values cannot hold CR, LF or NUL.
std::string HeaderSafe(std::string s) {
  std::erase_if(s, [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
  return s;
}

void RawRequest(std::string_view bytes) {
  const Snapshot before = fixture->registry->LayerSnapshot(Layer::kAdmin);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  DEGRADE_FUZZ_CHECK(fd >= 0, "socket");
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(fixture->server->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // EADDRNOTAVAIL: this side ran out of ephemeral ports (connections in
  // TIME_WAIT, several fuzzers at once); not the server's doing, so wait and
  // try again. Anything else -- a refusal, or no accept within 5 s -- is.
  int rc = -1;
  for (int attempt = 0; attempt < 50; ++attempt) {
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    if (rc == 0 || errno != EADDRNOTAVAIL) break;
    ::usleep(100 * 1000);
  }
  DEGRADE_FUZZ_CHECK(rc == 0, std::string("connect to the admin server: ") + std::strerror(errno));
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early (a 400 to a bad request line)
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string response;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
    DEGRADE_FUZZ_CHECK(response.size() < (size_t{8} << 20), "response too large");
  }
  ::close(fd);
  CheckNoToken(response, TokenOutsideAuthorization(bytes));
  // Pipelined requests give several responses; check each status line.
  bool any_200 = false;
  for (size_t at = response.find("HTTP/1.1 "); at != std::string::npos;
       at = response.find("\r\n\r\nHTTP/1.1 ", at + 1)) {
    if (response.compare(at, 4, "\r\n\r\n") == 0) at += 4;
    const int status = std::atoi(response.c_str() + at + 9);
    DEGRADE_FUZZ_CHECK(DocumentedStatus(status), response.substr(at, 200));
    any_200 = any_200 || status == 200;
  }
  DEGRADE_FUZZ_CHECK(response.empty() || response.starts_with("HTTP/1.1 "), response.substr(0, 200));
  if (!any_200) {
    DEGRADE_FUZZ_CHECK(fixture->registry->LayerSnapshot(Layer::kAdmin) == before,
                       "the admin layer changed without a 200");
  }
}

void StructuredRequest(FuzzedDataProvider& in) {
  static const std::vector<std::string> kMethods = {"GET", "HEAD", "PUT", "DELETE",
                                                     "POST", "PATCH", "OPTIONS"};
  std::string method = in.ConsumeBool() ? in.PickValueInArray<const std::string>(
                                              {kMethods[0], kMethods[1], kMethods[2], kMethods[3],
                                               kMethods[4], kMethods[5], kMethods[6]})
                                        : std::string();
  if (method.empty()) {
    // Some other token: TRACE, CONNECT, lower case, anything of letters.
    std::string m = in.ConsumeRandomLengthString(12);
    for (char c : m) {
      if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) method += c;
    }
    if (method.empty()) method = "PUT";
  }

  std::string path;
  std::string name;  // the switch the path names, if any
  switch (in.ConsumeIntegralInRange<int>(0, 5)) {
    case 0:
      path = in.PickValueInArray<std::string>(
          {"/", "/healthz", "/metrics", "/degrade/v1/switches", "/degrade/v1/switches/"});
      break;
    case 1:
    case 2:
      name = kDefined[in.ConsumeIntegralInRange<size_t>(0, kDefined.size() - 1)];
      path = "/degrade/v1/switches/" + name;
      break;
    case 3:
      name = in.ConsumeRandomLengthString(200);
      path = "/degrade/v1/switches/" + name;
      break;
    default:
      path = in.ConsumeRandomLengthString(300);
      break;
  }

  httplib::Headers headers;
  bool right_token = false;
  switch (in.ConsumeIntegralInRange<int>(0, 4)) {
    case 0:
      break;
    case 1:
      headers.emplace("Authorization", "Bearer " + std::string(kToken));
      right_token = true;
      break;
    case 2:
      headers.emplace("Authorization", "bearer   " + std::string(kToken) + "  ");
      right_token = true;
      break;
    case 3:
      headers.emplace("Authorization", "Bearer " + std::string(kToken.substr(0, kToken.size() - 1)));
      break;
    default:
      headers.emplace("Authorization", HeaderSafe(in.ConsumeRandomLengthString(100)));
      break;
  }
  std::string actor;
  if (in.ConsumeBool()) {
    actor = HeaderSafe(in.ConsumeRandomLengthString(64));
    // Leading/trailing blanks are not part of a header value.
    while (!actor.empty() && (actor.front() == ' ' || actor.front() == '\t')) actor.erase(0, 1);
    while (!actor.empty() && (actor.back() == ' ' || actor.back() == '\t')) actor.pop_back();
    if (!actor.empty()) headers.emplace("X-Degrade-Actor", actor);
  }
  const std::string body = in.ConsumeRemainingBytesAsString();

  ResetAdminLayer();
  const Snapshot before = fixture->registry->LayerSnapshot(Layer::kAdmin);

  httplib::Request req;
  req.method = method;
  req.path = RequestTarget(path);
  req.headers = headers;
  if (!body.empty() || method == "PUT" || method == "POST" || method == "PATCH") {
    req.body = body;
    req.headers.emplace("Content-Type", "application/json");
  }
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  bool ok = fixture->client->send(req, res, error);
  if (!ok) {
    // The server closes a connection after a request it could not parse;
    // a kept-alive client may notice only now. Once more, fresh.
    fixture->client->stop();
    res = httplib::Response();
    ok = fixture->client->send(req, res, error);
  }
  DEGRADE_FUZZ_CHECK(ok, "no answer to " + method + " " + req.path + ": " + httplib::to_string(error));
  const int status = res.status;
  DEGRADE_FUZZ_CHECK(DocumentedStatus(status), std::to_string(status) + " to " + method + " " +
                                                    req.path + ": " + res.body.substr(0, 300));
  const bool sent_elsewhere = method.find(kToken) != std::string::npos ||
                              path.find(kToken) != std::string::npos ||
                              actor.find(kToken) != std::string::npos ||
                              body.find(kToken) != std::string::npos;
  CheckNoToken(res.body, sent_elsewhere);
  for (const auto& [key, value] : res.headers) CheckNoToken(value, sent_elsewhere);
  // cpp-httplib's client reads no body after HEAD or CONNECT (the server
  // sends one after CONNECT: it answers 404/405). Those bytes are still on
  // the connection, so the next request starts on a fresh one.
  const bool client_reads_body = method != "HEAD" && method != "CONNECT";
  if (method == "CONNECT") fixture->client->stop();
  if (client_reads_body) {
    const bool json_route = res.get_header_value("Content-Type").starts_with("application/json");
    if (status >= 400 || json_route) {
      const nlohmann::json doc = nlohmann::json::parse(res.body, nullptr, false);
      DEGRADE_FUZZ_CHECK(!doc.is_discarded(), "not JSON (" + std::to_string(status) + " to " + method +
                                                  " " + req.path + "): " + res.body.substr(0, 300));
      if (status >= 400) {
        DEGRADE_FUZZ_CHECK(doc.is_object() && doc.contains("error") && doc["error"].is_string(),
                           res.body.substr(0, 300));
      }
    }
  }

  // For failure messages: the request as sent.
  std::string sent = method + " " + req.path + "\n";
  for (const auto& [key, value] : req.headers) sent += key + ": " + value + "\n";
  sent += "body (" + std::to_string(body.size()) + " bytes): " + body.substr(0, 300);

  const Snapshot after = fixture->registry->LayerSnapshot(Layer::kAdmin);
  const bool write = method == "PUT" || method == "DELETE";
  if (!(status == 200 && write)) {
    DEGRADE_FUZZ_CHECK(after == before, "the admin layer changed on " + std::to_string(status) +
                                            " to " + method + " " + req.path);
  }
  if (method == "PUT" && status == 200) DEGRADE_FUZZ_CHECK(right_token, "PUT accepted without the token");

  // A request whose head carries the token outside its Authorization header
  // is refused (400) before any route runs (docs/security.md); only the size
  // limits, checked as the bytes arrive, come first. A body is looked at
  // only where it is used: a PUT carrying the token in its body never
  // succeeds (its value would be shown to every reader); other bodies are
  // never quoted (a GET's is not even read), so the answer does not depend
  // on them.
  const bool head_carries = method.find(kToken) != std::string::npos ||
                            path.find(kToken) != std::string::npos ||
                            actor.find(kToken) != std::string::npos;
  if (head_carries) {
    DEGRADE_FUZZ_CHECK(status == 400 || status == 413 || status == 414 || status == 431,
                       std::to_string(status) + " to a request carrying the token: " + sent);
  }
  if (method == "PUT" && body.find(kToken) != std::string::npos) {
    DEGRADE_FUZZ_CHECK(status != 200, "200 to a PUT carrying the token in its body: " + sent);
  }
  // The documented outcome of a well-aimed write.
  const bool aimed = !sent_elsewhere && right_token && path == "/degrade/v1/switches/" + name &&
                     std::find(kDefined.begin(), kDefined.end(), name) != kDefined.end();
  if (aimed && method == "PUT" && body.size() <= kMaxBody) {
    absl::StatusOr<degrade::SwitchValue> expected = degrade::ParseSwitchValue(
        body, "admin PUT", "switches." + name, degrade::fuzz::FuzzClock().Now());
    if (expected.ok() && expected->actor.empty()) expected->actor = actor.empty() ? "admin" : actor;
    // An expiry already past is refused (400): it would only remove the
    // entry it replaces.
    const bool past = expected.ok() && expected->expires_at &&
                      *expected->expires_at <= degrade::fuzz::FuzzClock().Now();
    if (expected.ok() && degrade::ValidateSwitchValue(*expected).ok() && !past) {
      DEGRADE_FUZZ_CHECK(status == 200, std::to_string(status) + ": " + res.body.substr(0, 300) +
                                            "\nrequest: " + sent);
      auto it = after.switches.find(name);
      DEGRADE_FUZZ_CHECK(it != after.switches.end() && it->second == *expected,
                         "the admin layer does not hold the value PUT: " +
                             degrade::SwitchValueToJson(*expected));
    } else {
      DEGRADE_FUZZ_CHECK(status == 400, std::to_string(status) + " to an invalid value: " +
                                            res.body.substr(0, 300));
    }
  }
  if (aimed && method == "PUT" && body.size() > kMaxBody) {
    DEGRADE_FUZZ_CHECK(status == 413, std::to_string(status) + " to an oversized body");
  }
  // The bulk write: with the token and a body ParseBulkWrite accepts, the
  // admin layer becomes exactly that snapshot; anything else changes
  // nothing (checked above).
  if (!sent_elsewhere && right_token && method == "PUT" && path == "/degrade/v1/switches" &&
      body.size() <= kMaxBody) {
    absl::StatusOr<degrade::internal::BulkWrite> expected = degrade::internal::ParseBulkWrite(
        body, degrade::fuzz::FuzzClock().Now(), actor.empty() ? "admin" : actor,
        [](std::string_view n) {
          return std::find(kDefined.begin(), kDefined.end(), n) != kDefined.end();
        });
    if (expected.ok()) {
      DEGRADE_FUZZ_CHECK(status == 200, std::to_string(status) + ": " + res.body.substr(0, 300) +
                                            "\nrequest: " + sent);
      DEGRADE_FUZZ_CHECK(after == expected->snapshot,
                         "the admin layer is not the bulk write's snapshot: " + sent);
    } else {
      DEGRADE_FUZZ_CHECK(status == 400, std::to_string(status) + " to an invalid bulk write: " +
                                            res.body.substr(0, 300));
    }
  }
  if (aimed && method == "DELETE") {
    DEGRADE_FUZZ_CHECK(status == 200, std::to_string(status) + ": " + res.body.substr(0, 300));
    DEGRADE_FUZZ_CHECK(!after.switches.contains(name), "DELETE left the entry");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fixture = new Fixture();  // lives for the whole run
  fixture->registry = std::make_unique<degrade::Registry>(degrade::fuzz::QuietRegistryOptions());
  for (const std::string& name : kDefined) {
    auto sw = fixture->registry->Define({.name = name, .description = "fuzz", .groups = {"tier2"}});
    DEGRADE_FUZZ_CHECK(sw.ok(), sw.status().ToString());
  }
  degrade::SwitchValue off;
  off.state = degrade::State::kOff;
  off.actor = "oncall";
  off.reason = "baseline";
  fixture->baseline.switches["recs"] = off;
  degrade::internal::AdminConfig config;
  config.addr = "127.0.0.1:0";
  config.token = std::string(kToken);
  config.threads = 2;
  config.max_body_bytes = kMaxBody;
  config.io_timeout = absl::Seconds(2);
  config.request_deadline = absl::Seconds(4);
  auto server = degrade::internal::AdminServer::Start(*fixture->registry, config);
  DEGRADE_FUZZ_CHECK(server.ok(), server.status().ToString());
  fixture->server = *std::move(server);
  fixture->client = std::make_unique<httplib::Client>("127.0.0.1", fixture->server->port());
  fixture->client->set_keep_alive(true);
  fixture->client->set_url_encode(false);
  fixture->client->set_connection_timeout(std::chrono::seconds(5));
  fixture->client->set_read_timeout(std::chrono::seconds(5));
  fixture->client->set_write_timeout(std::chrono::seconds(5));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if ((data[0] & 1) != 0) {
    ResetAdminLayer();
    RawRequest(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
    return 0;
  }
  FuzzedDataProvider in(data + 1, size - 1);
  StructuredRequest(in);
  return 0;
}
