// Fuzz target: HTTP-poll response handling (DESIGN section 5): what the
// HTTP source does with a status, headers and body, through a real source
// runner polling a real socket on 127.0.0.1 that answers with fuzz-chosen
// bytes.
//
// Each input describes the answers of two URLs, /a (preferred) and /b; an
// HTTP source over [/a, /b] runs one poll round (StartHttpSource does, before
// it returns) and is destroyed. An answer is either raw bytes, or structured: a status, an
// optional ETag, a framing (true Content-Length, a Content-Length shorter
// than the body, one longer than what is sent, chunked at fuzz-chosen
// sizes, or no length and the end of the connection), and a body.
//
// Properties checked (structured answers), beyond no crash, no leak, no
// sanitizer report:
//   - the remote layer afterwards holds exactly the snapshot of the first
//     URL whose answer is usable (200, complete, at most max_body_bytes, a
//     snapshot ParseSnapshot accepts), and /b is not asked when /a was
//     usable;
//   - when no answer is usable, the remote layer is exactly what it was (fail
//     static), the "remote" health is unhealthy and names an error;
//   - with raw answers: the layer is either unchanged or a snapshot whose
//     every value passes ValidateSwitchValue.
#include <arpa/inet.h>
#include <fuzzer/FuzzedDataProvider.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "fuzz_check.h"
#include "fuzz_util.h"
#include "sources/http_source.h"

namespace {

using degrade::Layer;
using degrade::Snapshot;

constexpr size_t kMaxBody = 2048;

// A one-connection-at-a-time server: reads a request's head, answers with
// the bytes set for its path, and closes.
class ScriptedServer {
 public:
  ScriptedServer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    DEGRADE_FUZZ_CHECK(listen_fd_ >= 0, "socket");
    int yes = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    DEGRADE_FUZZ_CHECK(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0,
                       "bind");
    DEGRADE_FUZZ_CHECK(::listen(listen_fd_, 16) == 0, "listen");
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
    thread_.detach();  // blocked in accept() until the process exits
  }

  int port() const { return port_; }

  void Script(std::map<std::string, std::string> answers) {
    std::lock_guard<std::mutex> lock(mu_);
    answers_ = std::move(answers);
    asked_.clear();
  }
  std::vector<std::string> Asked() {
    std::lock_guard<std::mutex> lock(mu_);
    return asked_;
  }

 private:
  void Serve() {
    for (;;) {
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      timeval tv{2, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      std::string head;
      char buf[1024];
      while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      std::string path;
      if (const size_t sp = head.find(' '); sp != std::string::npos) {
        path = head.substr(sp + 1, head.find(' ', sp + 1) - sp - 1);
      }
      std::string answer;
      {
        std::lock_guard<std::mutex> lock(mu_);
        asked_.push_back(path);
        if (auto it = answers_.find(path); it != answers_.end()) answer = it->second;
      }
      size_t sent = 0;
      while (sent < answer.size()) {
        const ssize_t n = ::send(fd, answer.data() + sent, answer.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
      ::shutdown(fd, SHUT_WR);
      // Let the client read everything before the socket goes (no RST).
      while (::recv(fd, buf, sizeof buf, 0) > 0) {
      }
      ::close(fd);
    }
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, std::string> answers_;  // guarded by mu_
  std::vector<std::string> asked_;              // guarded by mu_
};

struct Answer {
  std::string bytes;
  bool raw = false;
  // For structured answers: the body the client should end up with, when
  // the answer is usable at all.
  std::optional<std::string> usable_body;
};

Answer MakeAnswer(FuzzedDataProvider& in) {
  Answer a;
  if (in.ConsumeIntegralInRange<int>(0, 7) == 0) {
    a.raw = true;
    a.bytes = in.ConsumeRandomLengthString(3000);
    return a;
  }
  int status = 200;
  switch (in.ConsumeIntegralInRange<int>(0, 7)) {
    case 0: status = 304; break;
    case 1: status = 404; break;
    case 2: status = 503; break;
    case 3: status = in.ConsumeIntegralInRange<int>(100, 599); break;
    default: break;
  }
  const bool etag = in.ConsumeBool();
  const int framing = in.ConsumeIntegralInRange<int>(0, 4);
  std::vector<size_t> chunks;
  if (framing == 3) {
    for (int i = 0; i < 4; ++i) chunks.push_back(in.ConsumeIntegralInRange<size_t>(1, 64));
  }
  const size_t cut = in.ConsumeIntegral<uint16_t>();
  const std::string body = in.ConsumeRandomLengthString(3000);

  std::string head = absl::StrCat("HTTP/1.1 ", status, " X\r\n");
  if (etag) head += "ETag: \"v1\"\r\n";
  head += "Content-Type: application/json\r\nConnection: close\r\n";
  std::string seen = body;  // what a correct client reads as the body
  bool complete = true;
  std::string payload = body;
  switch (framing) {
    case 0:  // true length
      head += absl::StrCat("Content-Length: ", body.size(), "\r\n");
      break;
    case 1: {  // a shorter length: the client reads a prefix
      const size_t declared = body.empty() ? 0 : cut % body.size();
      head += absl::StrCat("Content-Length: ", declared, "\r\n");
      seen = body.substr(0, declared);
      break;
    }
    case 2:  // a longer length than what is sent: truncated
      head += absl::StrCat("Content-Length: ", body.size() + 1 + cut % 100, "\r\n");
      complete = false;
      break;
    case 3: {  // chunked at fuzz-chosen sizes
      head += "Transfer-Encoding: chunked\r\n";
      payload.clear();
      size_t at = 0;
      for (size_t i = 0; at < body.size(); ++i) {
        const size_t n = std::min(chunks[i % chunks.size()], body.size() - at);
        payload += absl::StrCat(absl::Hex(n), "\r\n", body.substr(at, n), "\r\n");
        at += n;
      }
      payload += "0\r\n\r\n";
      break;
    }
    default:  // no length: the body ends with the connection
      break;
  }
  a.bytes = head + "\r\n" + payload;
  // The client never sees a body for these statuses; they are failures anyway.
  if (status == 200 && complete && seen.size() <= kMaxBody) a.usable_body = seen;
  return a;
}

struct Fixture {
  ScriptedServer server;
  std::unique_ptr<degrade::Registry> registry;
  Snapshot baseline;
};
Fixture* fixture = nullptr;

void CheckValid(const Snapshot& s) {
  for (const auto& [name, value] : s.switches) {
    DEGRADE_FUZZ_CHECK(degrade::ValidateName(name).ok(), name);
    DEGRADE_FUZZ_CHECK(degrade::ValidateSwitchValue(value).ok(), name);
  }
  for (const auto& [name, value] : s.groups) {
    DEGRADE_FUZZ_CHECK(degrade::ValidateSwitchValue(value).ok(), name);
  }
  if (s.all) DEGRADE_FUZZ_CHECK(degrade::ValidateSwitchValue(*s.all).ok(), "all");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fixture = new Fixture();  // lives for the whole run
  fixture->registry = std::make_unique<degrade::Registry>(degrade::fuzz::QuietRegistryOptions());
  auto sw = fixture->registry->Define({.name = "recs", .description = "fuzz"});
  DEGRADE_FUZZ_CHECK(sw.ok(), sw.status().ToString());
  degrade::SwitchValue off;
  off.state = degrade::State::kOff;
  off.reason = "baseline";
  fixture->baseline.switches["baseline"] = off;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const Answer a = MakeAnswer(in);
  const Answer b = MakeAnswer(in);
  fixture->server.Script({{"/a", a.bytes}, {"/b", b.bytes}});

  degrade::Registry& registry = *fixture->registry;
  const absl::Status reset = registry.ApplySnapshot(Layer::kRemote, fixture->baseline, "reset");
  DEGRADE_FUZZ_CHECK(reset.ok(), reset.ToString());

  degrade::internal::HttpSourceConfig config;
  const std::string origin = absl::StrCat("http://127.0.0.1:", fixture->server.port());
  config.urls = {origin + "/a", origin + "/b"};
  config.interval = absl::Hours(1);  // only the start-up round runs
  config.timeout = absl::Seconds(3);
  config.max_body_bytes = kMaxBody;
  DEGRADE_FUZZ_CHECK(degrade::internal::ValidateHttpSource(config).ok(), "config");
  // The first round runs before StartHttpSource returns (within its start-up
  // budget); destroying the runner stops it.
  { std::unique_ptr<degrade::internal::SourceRunner> source =
        degrade::internal::StartHttpSource(registry, config); }

  const Snapshot layer = registry.LayerSnapshot(Layer::kRemote);
  const std::vector<std::string> asked = fixture->server.Asked();
  DEGRADE_FUZZ_CHECK(!asked.empty() && asked[0] == "/a", "the preferred URL was not asked first");

  if (a.raw || b.raw) {
    if (!(layer == fixture->baseline)) CheckValid(layer);
    return 0;
  }
  std::optional<Snapshot> expected;
  bool a_usable = false;
  for (const Answer* answer : {&a, &b}) {
    if (!answer->usable_body) continue;
    absl::StatusOr<Snapshot> parsed = degrade::ParseSnapshot(
        *answer->usable_body, "expected", degrade::fuzz::FuzzClock().Now());
    if (!parsed.ok()) continue;
    expected = *std::move(parsed);
    a_usable = answer == &a;
    break;
  }
  if (expected) {
    DEGRADE_FUZZ_CHECK(layer == *expected, "the remote layer holds " + degrade::SnapshotToJson(layer) +
                                               ", expected " + degrade::SnapshotToJson(*expected));
    if (a_usable) DEGRADE_FUZZ_CHECK(asked.size() == 1, "/b asked although /a answered");
  } else {
    DEGRADE_FUZZ_CHECK(layer == fixture->baseline,
                       "no usable answer, yet the remote layer changed to " +
                           degrade::SnapshotToJson(layer));
    bool reported = false;
    for (const degrade::SourceHealth& h : registry.sources()) {
      if (h.name == "remote") {
        DEGRADE_FUZZ_CHECK(!h.healthy && !h.last_error.empty(), "failure not reported");
        reported = true;
      }
    }
    DEGRADE_FUZZ_CHECK(reported, "no remote health reported");
  }
  return 0;
}
