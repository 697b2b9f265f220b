// The admin endpoint's bounded HTTP/1.1 server: cpp-httplib's parser,
// router and response writer, with its per-connection loop replaced by one
// that bounds every request in time and size, serves TLS itself, and makes
// keep-alive connections give way when others wait (admin_server.h has the
// bounds; docs/security.md the threat model). Not installed.
#ifndef DEGRADE_LIB_ADMIN_HTTP_SERVER_H_
#define DEGRADE_LIB_ADMIN_HTTP_SERVER_H_

#include <atomic>
#include <string>
#include <thread>

#include "admin/admin_config.h"
#include "admin/worker_pool.h"
#include "httplib.h"
#include "openssl/ssl.h"

namespace degrade::internal {

// Handlers are registered on it as on any httplib::Server. Lifecycle: bind,
// BuildLibraryStatics, Listen (blocks: run it on its own thread), Shutdown
// from another thread.
class BoundedServer final : public httplib::Server {
 public:
  // `tls` may be null (plain HTTP). `config` and `tls` outlive the server.
  BoundedServer(const AdminConfig& config, SSL_CTX* tls);

  // cpp-httplib's Server::parse_request_line builds a function-local
  // `static const std::set<std::string>` of methods on its first call.
  // Later calls test its guard with an inline acquire load, which TSan does
  // not see in the uninstrumented library, so two workers reading the set
  // were reported as racing with the one that built it (docs/security.md,
  // "The TSan report"). This parses one request line here, once per process,
  // before any worker exists: the workers are created after it, and later
  // servers meet it through std::call_once, so every reader is ordered after
  // the build. The method is unknown, so the request ends at the parse (a 400
  // written to memory): no handler runs, nothing is counted or logged.
  void BuildLibraryStatics();

  // Runs the accept loop on the calling thread until Shutdown; after bind.
  bool Listen();

  // Makes every connection wind down within kStopCheck; then stop().
  void Shutdown();

 private:
  bool process_and_close_socket(socket_t sock) override;
  void Refuse(socket_t sock) const;
  void LingeringClose(socket_t sock) const;

  const AdminConfig& config_;
  SSL_CTX* const tls_;
  const std::string refused_response_;
  std::atomic<bool> stopping_{false};
  std::atomic<WorkerPool*> pool_{nullptr};
  // Set before the accept loop starts (and so before any worker exists):
  // the pool runs a connection it refuses on this thread.
  std::thread::id accept_thread_;
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ADMIN_HTTP_SERVER_H_
