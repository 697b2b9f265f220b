// The admin endpoint's bounded HTTP/1.1 server: cpp-httplib's accept loop,
// parser, router and response writer, with its per-connection loop replaced.
// A plain-HTTP connection waits for each request head in the HeadGate (no
// worker), then a worker of the head's lane (worker_pool.h: with the token
// or without) serves that request and hands the connection back. A TLS
// connection is served by one general worker throughout, every request
// bounded in time and size, and gives way when others wait (admin_server.h
// has the bounds; docs/security.md the threat model). Not installed.
#ifndef DEGRADE_LIB_ADMIN_HTTP_SERVER_H_
#define DEGRADE_LIB_ADMIN_HTTP_SERVER_H_

#include <atomic>
#include <memory>
#include <string>

#include "admin/admin_config.h"
#include "admin/head_gate.h"
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
  // Starts the workers and the gate first.
  bool Listen();

  // Makes every connection wind down within kStopCheck; then stop().
  void Shutdown();

 private:
  bool process_and_close_socket(socket_t sock) override;
  void Dispatch(GateConnection c, bool authenticated);
  void ServePlain(GateConnection c);
  void ServeTls(socket_t sock);
  void Refuse(socket_t sock) const;
  void LingeringClose(socket_t sock) const;

  const AdminConfig& config_;
  SSL_CTX* const tls_;
  const std::string refused_response_;
  std::atomic<bool> stopping_{false};
  // Created by Listen before the accept loop; destroyed by Shutdown, the
  // gate first (it hands connections to the pool), after the accept loop
  // ended.
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<HeadGate> gate_;
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ADMIN_HTTP_SERVER_H_
