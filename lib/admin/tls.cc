// The admin endpoint's TLS context (tls.h).
#include "admin/tls.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "openssl/err.h"
#include "openssl/pem.h"

namespace degrade::internal {

namespace {

// OpenSSL's reason for the last failure on this thread.
std::string SslReason() {
  const unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char text[256] = {};
  ERR_error_string_n(e, text, sizeof text);
  return text;
}

}  // namespace

absl::StatusOr<SslCtxPtr> LoadTls(const AdminConfig& config) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx == nullptr) {
    return absl::InternalError(absl::StrCat("admin endpoint: TLS setup failed: ", SslReason()));
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(
      ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), config.tls_cert_file.c_str()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin_tls_cert_file (DEGRADE_ADMIN_TLS_CERT) \"", config.tls_cert_file,
                     "\": cannot load it as a PEM certificate chain (", SslReason(),
                     "); accepted: a readable PEM file, the server certificate first"));
  }
  // Read here rather than by SSL_CTX_use_PrivateKey_file, whose default
  // passphrase callback would prompt on the terminal for an encrypted key.
  EVP_PKEY* key = nullptr;
  errno = 0;
  if (FILE* f = std::fopen(config.tls_key_file.c_str(), "r")) {
    key = PEM_read_PrivateKey(
        f, nullptr, [](char*, int, int, void*) { return 0; }, nullptr);
    std::fclose(f);
  }
  if (key == nullptr) {
    const std::string why =
        errno != 0 && ERR_peek_last_error() == 0 ? std::strerror(errno) : SslReason();
    return absl::InvalidArgumentError(
        absl::StrCat("admin_tls_key_file (DEGRADE_ADMIN_TLS_KEY) \"", config.tls_key_file,
                     "\": cannot load it as a PEM private key (", why,
                     "); accepted: a readable, unencrypted PEM private key"));
  }
  const bool used = SSL_CTX_use_PrivateKey(ctx.get(), key) == 1;
  EVP_PKEY_free(key);
  if (!used || SSL_CTX_check_private_key(ctx.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "admin_tls_key_file (DEGRADE_ADMIN_TLS_KEY) \"", config.tls_key_file,
        "\" does not match the certificate in \"", config.tls_cert_file, "\" (", SslReason(), ")"));
  }
  return ctx;
}

}  // namespace degrade::internal
