// The admin endpoint (admin_server.h): the bounded HTTP server
// (http_server.h) with the routes (routes.h) installed, on its own accept
// thread.
#include "admin/admin_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "admin/events_route.h"
#include "admin/http_server.h"
#include "admin/raw_response.h"
#include "admin/routes.h"
#include "admin/tls.h"

namespace degrade::internal {

class AdminServer::Impl {
 public:
  Impl(Registry& registry, AdminConfig config, SslCtxPtr tls)
      : config_(std::move(config)),
        tls_(std::move(tls)),
        events_(registry),
        routes_(registry, config_),
        server_(config_, tls_.get()) {
    routes_.set_events(&events_);
  }

  ~Impl() {
    // Long-polls answer now rather than hold the shutdown up.
    events_.Close();
    if (thread_.joinable()) {
      server_.Shutdown();
      thread_.join();
    }
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  absl::Status Start(const AdminAddress& addr) {
    Configure();
    if (addr.port == 0) {
      port_ = server_.bind_to_any_port(addr.host);
    } else if (server_.bind_to_port(addr.host, addr.port)) {
      port_ = addr.port;
    }
    if (port_ <= 0) {
      port_ = 0;
      return absl::UnavailableError(absl::StrCat(
          "admin endpoint: cannot listen on ", config_.addr,
          " (port in use, or the address is not on this host); choose another admin_addr "
          "(DEGRADE_ADMIN_ADDR), or port 0 for a free one"));
    }
    // cpp-httplib listens with a backlog of 5: connections that arrive while
    // the accept thread is busy beyond that are dropped, and the kernel
    // retries them 1, 3 and 7 s later, so under a crowd of connecting
    // clients an operator's connection would wait seconds to be accepted
    // (seen as 2 writes in 100 failing their 1 s bound). listen() again on
    // the bound socket raises it to the system's limit.
    if (listen_fd_ >= 0) ::listen(listen_fd_, SOMAXCONN);
    server_.BuildLibraryStatics();
    thread_ = std::thread([this] {
      server_.Listen();
      listen_returned_.store(true);
    });
    // The socket already listens (connections queue); this waits for the
    // accept loop so that stop() in the destructor reaches it.
    while (!server_.is_running() && !listen_returned_.load()) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (!server_.is_running()) {
      return absl::UnavailableError(
          absl::StrCat("admin endpoint: the server on ", config_.addr, " stopped at start"));
    }
    return absl::OkStatus();
  }

  int port() const noexcept { return port_; }

 private:
  void Configure() {
    server_.set_payload_max_length(config_.max_body_bytes);
    const auto io_ms = std::chrono::milliseconds(absl::ToInt64Milliseconds(config_.io_timeout));
    // Also set as SO_RCVTIMEO/SO_SNDTIMEO on each socket; ConnectionStream
    // does not block in recv/send, so they are only a backstop.
    server_.set_read_timeout(io_ms);
    server_.set_write_timeout(io_ms);
    server_.set_keep_alive_max_count(config_.keep_alive_max_requests);
    server_.set_keep_alive_timeout(
        std::max<time_t>(1, absl::ToInt64Seconds(config_.keep_alive_timeout)));
    server_.set_tcp_nodelay(true);
    // The library's default is SO_REUSEPORT, which lets a second process
    // (another instance of the same service, say) bind the same port and
    // silently receive half the requests, tokens included. SO_REUSEADDR only
    // allows a restart while old connections linger in TIME_WAIT.
    server_.set_socket_options([this](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      listen_fd_ = sock;
    });
    httplib::Headers headers;
    for (const auto& [name, value] : kSecurityHeaders) {
      headers.emplace(std::string(name), std::string(value));
    }
    server_.set_default_headers(std::move(headers));
    routes_.Install(server_);
  }

  const AdminConfig config_;
  const SslCtxPtr tls_;  // null: plain HTTP
  EventRing events_;  // the change stream; listens from construction
  Routes routes_;
  BoundedServer server_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};
  int port_ = 0;
  int listen_fd_ = -1;  // set by the socket-options callback during bind
};

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(Registry& registry,
                                                                AdminConfig config) {
  if (absl::Status s = ValidateAdminConfig(config); !s.ok()) return s;
  config.token = std::string(TrimmedAdminToken(config.token));
  const AdminAddress addr = *ParseAdminAddress(config.addr);
  SslCtxPtr tls;
  if (!config.tls_cert_file.empty()) {
    absl::StatusOr<SslCtxPtr> loaded = LoadTls(config);
    if (!loaded.ok()) return loaded.status();
    tls = *std::move(loaded);
  }
  auto impl = std::make_unique<Impl>(registry, std::move(config), std::move(tls));
  if (absl::Status s = impl->Start(addr); !s.ok()) return s;
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminServer::~AdminServer() = default;
int AdminServer::port() const noexcept { return impl_->port(); }

}  // namespace degrade::internal
