// The head gate (head_gate.h).
//
// Why peek rather than read: the worker's parser (cpp-httplib over
// ConnectionStream) then reads the request from the socket as if it had
// just arrived, and nothing is buffered in two places. SO_RCVLOWAT makes
// poll() report a connection again only when more bytes than were peeked
// have arrived (Linux honours it in poll for TCP), so a connection with an
// incomplete head costs nothing until it sends more.
#include "admin/head_gate.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "admin/auth.h"
#include "admin/connection_stream.h"
#include "admin/raw_response.h"
#include "core/str_util.h"

namespace degrade::internal {
namespace {

std::string PeerOf(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return {};
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, text, sizeof text);
  } else if (addr.ss_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr, text,
                sizeof text);
  }
  return text;
}

// Ends a connection whose head did not arrive in time: a client that sent
// part of one is told (408) after what it sent is read, so that the close
// does not reset the connection under the answer.
void CloseExpired(int fd, bool started, absl::Duration head_timeout) {
  if (started) {
    char drain[4096];
    while (::recv(fd, drain, sizeof drain, MSG_DONTWAIT) > 0) {
    }
    const std::string answer = RawErrorResponse(
        408, absl::StrCat("request head not complete within ", absl::FormatDuration(head_timeout),
                          " of its first byte; accepted: a whole request head (request line "
                          "and headers) within that time"));
    (void)::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  ::close(fd);
}

// Ends a connection whose client closed its side before the end of a
// request head: it is told (400) what was missing, then closed.
void CloseIncomplete(int fd) {
  char drain[4096];
  while (::recv(fd, drain, sizeof drain, MSG_DONTWAIT) > 0) {
  }
  const std::string answer = RawErrorResponse(
      400, "the connection was closed before the end of the request head; accepted: a whole "
           "request head (request line and headers, ending with an empty line)");
  (void)::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::close(fd);
}

void SetLowWater(int fd, size_t bytes) {
  const int v = static_cast<int>(std::min<size_t>(bytes, INT32_MAX));
  ::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v);
}

// True when the complete head `head` has an Authorization header that
// carries `token` (the first such header, as the routes read it).
bool CarriesToken(std::string_view head, std::string_view token) {
  size_t at = head.find("\r\n");
  while (at != std::string_view::npos && at + 2 < head.size()) {
    const size_t start = at + 2;
    const size_t end = head.find("\r\n", start);
    const std::string_view line =
        head.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    constexpr std::string_view kName = "authorization:";
    if (line.size() >= kName.size() &&
        absl::EqualsIgnoreCase(ToAbsl(line.substr(0, kName.size())), ToAbsl(kName))) {
      const absl::string_view value = absl::StripAsciiWhitespace(ToAbsl(line.substr(kName.size())));
      const std::string header(value.data(), value.size());
      return CheckBearer(&header, token).status == 0;
    }
    at = end;
  }
  return false;
}

}  // namespace

HeadGate::HeadGate(const AdminConfig& config, Dispatch dispatch)
    : config_(config),
      dispatch_(std::move(dispatch)),
      wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  thread_ = std::thread([this] { Run(); });
}

HeadGate::~HeadGate() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  const uint64_t one = 1;
  (void)::write(wake_fd_, &one, sizeof one);
  thread_.join();
  for (const GateConnection& c : inbox_) ::close(c.fd);
  for (const Pending& p : pending_) ::close(p.c.fd);
  ::close(wake_fd_);
}

void HeadGate::Adopt(GateConnection c) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) {
      ::close(c.fd);
      return;
    }
    inbox_.push_back(c);
  }
  const uint64_t one = 1;
  (void)::write(wake_fd_, &one, sizeof one);
}

void HeadGate::Run() {
  std::vector<pollfd> fds;
  std::vector<GateConnection> arrived;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      arrived.swap(inbox_);
    }
    Admit(arrived);
    arrived.clear();
    fds.assign(1, pollfd{wake_fd_, POLLIN, 0});
    for (const Pending& p : pending_) fds.push_back(pollfd{p.c.fd, POLLIN | POLLRDHUP, 0});
    const int r =
        ::poll(fds.data(), fds.size(), static_cast<int>(absl::ToInt64Milliseconds(kStopCheck)));
    if (r < 0 && errno != EINTR) continue;
    if (fds[0].revents != 0) {
      uint64_t n = 0;
      (void)::read(wake_fd_, &n, sizeof n);
    }
    const absl::Time now = absl::Now();
    std::vector<Pending> kept;
    kept.reserve(pending_.size());
    for (size_t i = 0; i < pending_.size(); ++i) {
      Pending& p = pending_[i];
      const bool ready = r > 0 && fds[i + 1].revents != 0;
      const bool peer_closed = ready && (fds[i + 1].revents & (POLLRDHUP | POLLHUP)) != 0;
      if (ready ? Check(p, now, peer_closed) : !Expired(p, now)) {
        kept.push_back(std::move(p));
      } else if (!ready) {
        CloseExpired(p.c.fd, p.first_byte != absl::InfiniteFuture(), config_.head_timeout);
      }
    }
    pending_.swap(kept);
  }
}

bool HeadGate::Expired(const Pending& p, absl::Time now) const {
  // Counted from the head's first byte: a whole head, however it is
  // dribbled, has head_timeout. Before it, an idle connection may wait
  // keep_alive_timeout.
  return p.first_byte != absl::InfiniteFuture() ? now - p.first_byte > config_.head_timeout
                                                : now - p.since > config_.keep_alive_timeout;
}

void HeadGate::Admit(std::vector<GateConnection>& arrived) {
  const absl::Time now = absl::Now();
  for (const GateConnection& c : arrived) {
    Pending p{c, PeerOf(c.fd), now};
    p.order = ++arrivals_;
    const size_t same_peer = static_cast<size_t>(std::count_if(
        pending_.begin(), pending_.end(), [&](const Pending& q) { return q.peer == p.peer; }));
    if (same_peer >= config_.max_pending_per_peer) {
      Evict(p.peer, /*same_peer=*/true);
    } else if (pending_.size() >= config_.max_pending_connections) {
      Evict(p.peer, /*same_peer=*/false);
    }
    // A connection handed back with a request of the next already on its
    // way is checked at the next poll.
    SetLowWater(c.fd, 1);
    pending_.push_back(std::move(p));
  }
}

// Closes the oldest connection (from `peer` only, if `same_peer`) that is
// not trusted, or else the oldest trusted one.
void HeadGate::Evict(const std::string& peer, bool same_peer) {
  auto victim = pending_.end();
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (same_peer && it->peer != peer) continue;
    if (victim == pending_.end() || (victim->c.trusted && !it->c.trusted) ||
        (victim->c.trusted == it->c.trusted && it->order < victim->order)) {
      victim = it;
    }
  }
  if (victim == pending_.end()) return;
  ::close(victim->c.fd);
  pending_.erase(victim);
}

bool HeadGate::Check(Pending& p, absl::Time now, bool peer_closed) {
  const size_t cap = kMaxRequestLine + config_.max_header_bytes + 8;
  scratch_.resize(cap);
  const ssize_t n = ::recv(p.c.fd, scratch_.data(), cap, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    ::close(p.c.fd);  // the peer closed, or the connection failed
    return false;
  }
  const size_t have = n > 0 ? static_cast<size_t>(n) : p.peeked;
  if (have > 0 && p.first_byte == absl::InfiniteFuture()) p.first_byte = now;
  const std::string_view head(scratch_.data(), n > 0 ? have : 0);
  const size_t end = head.find("\r\n\r\n");
  if (end != std::string_view::npos || have >= cap) {
    SetLowWater(p.c.fd, 1);  // the worker's stream polls this socket too
    const bool authenticated =
        end != std::string_view::npos && CarriesToken(head.substr(0, end + 2), config_.token);
    dispatch_(p.c, authenticated);
    return false;
  }
  if (peer_closed) {
    // The client has said all it will say (a half-close, or a reset), and
    // that is not a whole head: nothing more can come, so waiting out
    // head_timeout would only hold the descriptor (and keep a client that
    // reads until the close waiting for nothing).
    CloseIncomplete(p.c.fd);
    return false;
  }
  if (Expired(p, now)) {
    CloseExpired(p.c.fd, p.first_byte != absl::InfiniteFuture(), config_.head_timeout);
    return false;
  }
  if (have != p.peeked) SetLowWater(p.c.fd, have + 1);
  p.peeked = have;
  return true;
}

}  // namespace degrade::internal
