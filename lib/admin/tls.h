// TLS for the admin endpoint: the server context from the configured PEM
// files (TLS 1.2 or later, no compression or renegotiation). Not installed.
#ifndef DEGRADE_LIB_ADMIN_TLS_H_
#define DEGRADE_LIB_ADMIN_TLS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "admin/admin_config.h"
#include "openssl/ssl.h"

namespace degrade::internal {

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const noexcept { SSL_CTX_free(ctx); }
};
struct SslFree {
  void operator()(SSL* ssl) const noexcept { SSL_free(ssl); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

// Loads config.tls_cert_file and config.tls_key_file. InvalidArgument
// naming the file (DEGRADE_ADMIN_TLS_CERT / _KEY), OpenSSL's reason and what
// is accepted; an encrypted key is refused rather than prompted for.
absl::StatusOr<SslCtxPtr> LoadTls(const AdminConfig& config);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ADMIN_TLS_H_
