// degrade/runtime.h: the background work that keeps switches in step with
// their sources.
//
//   int main() {
//     auto runtime = degrade::Runtime::FromEnv();   // DEGRADE_CONFIG_FILE, ...
//     if (!runtime.ok()) { std::cerr << runtime.status() << "\n"; return 1; }
//     ...serve...
//   }  // sources stop here
//
// A program that never starts a runtime still gets the default and
// environment layers: those need no background work.
#ifndef DEGRADE_RUNTIME_H_
#define DEGRADE_RUNTIME_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "degrade/export.h"
#include "degrade/registry.h"

namespace degrade {

struct Options {
  // The registry the sources feed. Default: Registry::Global(). Not owned;
  // must outlive the runtime.
  Registry* registry = nullptr;

  // File layer: a snapshot file (degrade/snapshot.h), applied at start and
  // again whenever it changes (atomic rename or in-place write). A missing
  // or bad file is reported and leaves the layer as it was. Every successful
  // check confirms the view: health "file" has last_success moving on each
  // poll while the file is fine, changed or not. Empty: no file layer. Env:
  // DEGRADE_CONFIG_FILE.
  std::string config_file;
  // How often the file is checked. Default: 200 ms (changes show within 1 s).
  // Env: DEGRADE_FILE_POLL_MS (10 to 60000).
  absl::Duration file_poll_interval = absl::Milliseconds(200);
  // The file's format: "degrade" (degrade/snapshot.h), "flagd" (a flagd
  // flag-definition file, docs/openfeature.md), or "auto" (flagd when the
  // document is unambiguously one: a top-level "flags" object and none of
  // "switches", "groups", "all"; else degrade). Empty means "auto". Env:
  // DEGRADE_CONFIG_FORMAT.
  std::string config_format;

  // Remote layer over HTTP polling (DESIGN section 5): http:// or https://
  // URLs serving a snapshot (degrade/snapshot.h). Every poll tries them in
  // order, starting again from the first (the primary) each time, and stops
  // at the first usable answer: a 200 whose body is a valid snapshot (applied
  // as the whole remote layer) or a 304 to our If-None-Match (nothing to
  // do). Anything else -- refused, timed out, TLS failure, another status, a
  // body over the limit, invalid JSON, a wrong type -- changes nothing and
  // moves on to the next URL at once. Start() polls once before returning.
  // Each URL's distinct error is logged once; health is in sources() as
  // "remote". Env: DEGRADE_REMOTE_URLS (comma-separated). At most one remote
  // source: remote_urls and etcd_endpoints together are an error.
  std::vector<std::string> remote_urls;
  // Poll interval, jittered by +-10%. When every URL failed, the next poll
  // waits min(interval/4, 500 ms), doubling per failed poll up to
  // max(interval, min(6 x interval, 60 s)), jittered by +-20%; one usable
  // answer goes back to the interval. Default: 5 s. Env:
  // DEGRADE_REMOTE_INTERVAL_MS.
  absl::Duration remote_interval = absl::Seconds(5);
  // Overall deadline of one request: connect, status line, headers and body
  // together, however the server paces them (a server dripping one byte a
  // second is abandoned at the deadline, and the next URL is tried). Health
  // turns unhealthy at the deadline, not when the request ends.
  // Start() returns within (number of URLs) x this + 1 s whatever the
  // servers do; the first poll goes on in the background if it needs
  // longer, and the cache (if any) is applied meanwhile. Default: 2 s. Env:
  // DEGRADE_REMOTE_TIMEOUT_MS (10 to 60000).
  absl::Duration remote_timeout = absl::Seconds(2);
  // Largest response body accepted, counted after decompression and enforced
  // while the body streams in (a larger declared Content-Length is refused
  // before any of the body is read). Default: 1 MiB.
  size_t remote_max_body_bytes = size_t{1} << 20;
  // For https: a CA bundle file (PEM) to verify servers against (default:
  // the system's), and whether to verify at all. The server's name or IP
  // must match its certificate. Default: verify. Env: DEGRADE_REMOTE_CA_FILE
  // (verification cannot be turned off from the environment).
  std::string remote_ca_file;
  bool remote_verify_tls = true;
  // The format of the bodies the URLs serve, as config_format. Env:
  // DEGRADE_REMOTE_FORMAT. (etcd needs no setting: the key PREFIX/flagd
  // holds a flagd document, the other keys degrade values.)
  std::string remote_format;

  // Remote layer over an etcd watch (DESIGN section 6; docs/fleet.md).
  // Members' http(s)://host:port; requests go to one member at a time and
  // move to the next when it fails (the other members the cluster
  // advertises are learnt too). Keys under etcd_prefix (normalised to end
  // with one "/"): PREFIX/switches/NAME, PREFIX/groups/GROUP, PREFIX/all,
  // each holding the JSON a snapshot holds for that entry, and PREFIX/flagd
  // holding a flagd flag-definition file (docs/openfeature.md), whose
  // switches the PREFIX/switches/NAME keys override. Start() reads the
  // prefix once before returning (or applies cache_file when no member
  // answers); then a watch applies each change as it happens and resumes
  // after any failure from the last revision seen. A bad value under one key
  // is rejected alone (that entry keeps its last good value) and reported
  // in sources() as "etcd" with the key and reason. Env:
  // DEGRADE_ETCD_ENDPOINTS (comma-separated), DEGRADE_ETCD_PREFIX. At most
  // one remote source: etcd_endpoints and remote_urls together are an error.
  std::vector<std::string> etcd_endpoints;
  std::string etcd_prefix;
  // Optional authentication: a token is obtained from user and password and
  // renewed when etcd lets it expire. Env: DEGRADE_ETCD_USER,
  // DEGRADE_ETCD_PASSWORD (never logged).
  std::string etcd_user;
  std::string etcd_password;
  // https endpoints: CA bundle (PEM) the members' certificates are verified
  // against; empty: the system's. Verification is always on. Env:
  // DEGRADE_ETCD_CA_FILE.
  std::string etcd_ca_file;
  // Connect timeout and the timeout of each request other than the watch.
  // Start() may block for about (number of endpoints) x this when every
  // member is unreachable by timeout. Default: 2 s.
  absl::Duration etcd_timeout = absl::Seconds(2);
  // Fleet registration (docs/fleet.md "Is it off everywhere?"): with
  // etcd_endpoints set, the process writes what it applied (revision,
  // sources' health, each defined switch's effective state and deciding
  // layer) to PREFIX/instances/ID under a lease of etcd_register_ttl, at
  // most every 200 ms, from a thread of its own, for `degradectl --etcd
  // status` and `--wait`. Env: DEGRADE_ETCD_REGISTER (on/off, default on),
  // DEGRADE_INSTANCE_ID (default: hostname-pid), DEGRADE_ETCD_REGISTER_TTL_S
  // (whole seconds, 1 to 3600; default 10).
  bool etcd_register = true;
  std::string instance_id;
  absl::Duration etcd_register_ttl = absl::Seconds(10);

  // Last-known-good copy of the remote layer, written atomically after each
  // applied remote snapshot and applied at start when no remote source
  // answers. The file is plain snapshot JSON, written to "<path>.tmp.<pid>"
  // in the same directory, fsynced and renamed over the path (the directory
  // is fsynced too). A write that fails (missing or unwritable directory,
  // full disk) and a cache that cannot be read or parsed at start are
  // reported (errors(), and sources() as "cache") and never change a switch.
  // Set without a remote source, it is unused (a warning says so). Empty:
  // none. Env: DEGRADE_CACHE_FILE.
  std::string cache_file;

  // Admin endpoint (DESIGN section 7; README "Admin endpoint"): an HTTP
  // server for listing and overriding switches, /metrics and the incident
  // console. "127.0.0.1:PORT", "[::1]:PORT" or "localhost:PORT" (PORT 0 picks
  // a free port; see Runtime::admin_port()). Empty: off. Env:
  // DEGRADE_ADMIN_ADDR. Start fails with InvalidArgument for a malformed
  // address or a non-loopback one (unless admin_allow_non_loopback), and with
  // Unavailable when the port cannot be bound; the server is listening when
  // Start returns and stops (closing open connections) with the runtime.
  std::string admin_addr;
  // Bearer token that PUT and DELETE must present (compared in constant
  // time, never logged). Empty: writes get 403 while reads work. Env:
  // DEGRADE_ADMIN_TOKEN.
  std::string admin_token;
  // Allows admin_addr to be a non-loopback address (0.0.0.0, a LAN address).
  // Then use TLS (below) or a TLS proxy, and a firewall. Default: off. Env:
  // DEGRADE_ADMIN_ALLOW_REMOTE (on/off, true/false, 1/0).
  bool admin_allow_non_loopback = false;
  // TLS for the admin endpoint: a PEM certificate chain and its PEM private
  // key, both or neither (InvalidArgument otherwise, or when they cannot be
  // loaded or do not match). TLS 1.2 or later. Default: plain HTTP. Env:
  // DEGRADE_ADMIN_TLS_CERT, DEGRADE_ADMIN_TLS_KEY.
  std::string admin_tls_cert_file;
  std::string admin_tls_key_file;
  // Host names, besides IP literals and localhost, that requests may carry in
  // their Host header (a defence against DNS rebinding; others get 421), e.g.
  // the name a TLS certificate is for. Env: DEGRADE_ADMIN_ALLOWED_HOSTS
  // (comma-separated).
  std::vector<std::string> admin_allowed_hosts;
};

class DEGRADE_EXPORT Runtime {
 public:
  // Starts the sources `options` configures. Errors: InvalidArgument for an
  // inconsistent configuration, named. A source that cannot reach its target
  // at start is not an error (fail static): it is reported in the registry's
  // sources() and errors() and retried.
  //
  // Time bound: with HTTP polling, Start returns within (number of
  // remote_urls) x remote_timeout + 1 s whatever the servers do (slow
  // status lines, headers or bodies included); a config file on a hung
  // filesystem can add up to 2 s. A source that has not answered by then
  // keeps trying in the background and is shown unhealthy ("starting: no
  // answer within the start-up budget ...") until it does. The etcd source
  // is bounded by its own timeouts (etcd_timeout per endpoint).
  //
  // Health, for every source in sources(): healthy only while the source
  // has confirmed its view recently -- a poll that answered 200 or 304, a
  // file check that succeeded. A request past its deadline, or a source
  // with no confirmed check for a while (stuck), is unhealthy with the
  // reason in last_error, from that moment on.
  static absl::StatusOr<std::unique_ptr<Runtime>> Start(Options options);

  // Options from the environment (see README: DEGRADE_CONFIG_FILE, ...),
  // then Start. Errors name the variable, its value and what is accepted.
  // Numbers are digits only ("+500" is refused); yes/no variables take
  // on/off/true/false/1/0 in any case. DEGRADE_LOG_CHANGES is checked here
  // too (the registry applied it when it was built; a bad value there was
  // only logged), so DEGRADE_LOG_CHANGES=yes fails start-up.
  static absl::StatusOr<std::unique_ptr<Runtime>> FromEnv(Registry* registry = nullptr);

  // Reads Options from the environment without starting anything.
  static absl::StatusOr<Options> OptionsFromEnv();

  // Stops every source and joins its threads. Switch states stay as they are.
  ~Runtime();

  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  Registry& registry() const noexcept;

  // The admin endpoint's bound port, or 0 when it is off.
  int admin_port() const noexcept;

  class DEGRADE_NO_EXPORT Impl;  // lib/runtime.cc; private to the library

 private:
  DEGRADE_NO_EXPORT explicit Runtime(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace degrade

#endif  // DEGRADE_RUNTIME_H_
