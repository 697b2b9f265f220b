// Runtime: owns the background sources and stops them on destruction.
#include "degrade/runtime.h"

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "admin/admin_server.h"
#include "core/flagd.h"
#include "core/env_parse.h"
#include "etcd/etcd_source.h"
#include "etcd/registration.h"
#include "etcd/registration_view.h"
#include "sources/file_source.h"
#include "sources/http_source.h"
#include "sources/source_runner.h"

namespace degrade {

class Runtime::Impl {
 public:
  explicit Impl(Options options) : options_(std::move(options)) {}
  Options options_;
  // Destroyed in reverse order of declaration: each stops and joins its own
  // threads. The admin endpoint goes first so no request sees a half-stopped
  // runtime.
  // --- fleet registration: members ---
  // Declared before the runners, so it outlives the etcd source that
  // reports to it.
  std::unique_ptr<internal::Registration> registration_;
  // --- end fleet registration ---
  // --- sources: members ---
  // One runner per source (file; remote: HTTP or etcd); each stops and joins
  // its own two threads.
  std::vector<std::unique_ptr<internal::SourceRunner>> runners_;
  // --- end remote sources ---
  // --- admin endpoint: members ---
  std::unique_ptr<internal::AdminServer> admin_;
  // --- end admin endpoint ---
};

Runtime::Runtime(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Runtime::~Runtime() = default;

Registry& Runtime::registry() const noexcept { return *impl_->options_.registry; }

// --- admin endpoint: admin_port ---
int Runtime::admin_port() const noexcept {
  return impl_->admin_ != nullptr ? impl_->admin_->port() : 0;
}
// --- end admin endpoint ---

absl::StatusOr<std::unique_ptr<Runtime>> Runtime::Start(Options options) {
  if (options.registry == nullptr) options.registry = &Registry::Global();
  if (options.file_poll_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("file_poll_interval ", absl::FormatDuration(options.file_poll_interval),
                     " is not positive; accepted: a positive duration (default 200ms)"));
  }
  if (!options.remote_urls.empty() && !options.etcd_endpoints.empty()) {
    return absl::InvalidArgumentError(
        "both remote_urls (DEGRADE_REMOTE_URLS) and etcd_endpoints (DEGRADE_ETCD_ENDPOINTS) are "
        "configured; accepted: at most one remote source per process");
  }
  if (!options.etcd_endpoints.empty() && options.etcd_prefix.empty()) {
    return absl::InvalidArgumentError(
        "etcd_endpoints (DEGRADE_ETCD_ENDPOINTS) needs etcd_prefix (DEGRADE_ETCD_PREFIX); "
        "accepted: a key prefix such as /degrade/shop");
  }
  // --- snapshot formats ---
  const auto format = [](const std::string& value, std::string_view setting) {
    return value.empty() ? absl::StatusOr<internal::SnapshotFormat>(internal::SnapshotFormat::kAuto)
                         : internal::ParseSnapshotFormat(value, setting);
  };
  absl::StatusOr<internal::SnapshotFormat> config_format =
      format(options.config_format, "config_format (DEGRADE_CONFIG_FORMAT)");
  if (!config_format.ok()) return config_format.status();
  absl::StatusOr<internal::SnapshotFormat> remote_format =
      format(options.remote_format, "remote_format (DEGRADE_REMOTE_FORMAT)");
  if (!remote_format.ok()) return remote_format.status();
  // --- end snapshot formats ---
  auto impl = std::make_unique<Impl>(std::move(options));
  const Options& o = impl->options_;
  // --- admin endpoint: validate ---
  // Checked before any source starts: a typo in the address fails Start
  // with nothing running.
  internal::AdminConfig admin_config;
  admin_config.addr = o.admin_addr;
  admin_config.token = o.admin_token;
  admin_config.allow_non_loopback = o.admin_allow_non_loopback;
  admin_config.tls_cert_file = o.admin_tls_cert_file;
  admin_config.tls_key_file = o.admin_tls_key_file;
  admin_config.allowed_hosts = o.admin_allowed_hosts;
  if (!o.admin_addr.empty()) {
    if (absl::Status s = internal::ValidateAdminConfig(admin_config); !s.ok()) return s;
  }
  // --- end admin endpoint ---
  // --- remote sources: validate ---
  const internal::HttpSourceConfig http_config{
      .urls = o.remote_urls,
      .interval = o.remote_interval,
      .timeout = o.remote_timeout,
      .max_body_bytes = o.remote_max_body_bytes,
      .ca_file = o.remote_ca_file,
      .verify_tls = o.remote_verify_tls,
      .cache_file = o.cache_file,
      .transport = nullptr,  // cpp-httplib
      .format = *remote_format,
  };
  if (!o.remote_urls.empty()) {
    if (absl::Status s = internal::ValidateHttpSource(http_config); !s.ok()) return s;
  }
  internal::EtcdSource::Config etcd_config;
  etcd_config.client.endpoints = o.etcd_endpoints;
  etcd_config.client.user = o.etcd_user;
  etcd_config.client.password = o.etcd_password;
  etcd_config.client.ca_file = o.etcd_ca_file;
  etcd_config.client.timeout = o.etcd_timeout;
  etcd_config.prefix = o.etcd_prefix;
  etcd_config.cache_file = o.cache_file;
  if (!o.etcd_endpoints.empty()) {
    if (absl::Status s = internal::EtcdSource::Validate(etcd_config); !s.ok()) return s;
  }
  // --- fleet registration: validate ---
  const internal::EtcdClient::Config fleet_client_config = etcd_config.client;
  internal::Registration::Config registration_config;
  registration_config.client = etcd_config.client;
  registration_config.prefix = o.etcd_prefix;
  registration_config.id = o.instance_id.empty() ? internal::DefaultInstanceId() : o.instance_id;
  registration_config.version = DEGRADE_LIB_VERSION;
  registration_config.ttl = o.etcd_register_ttl;
  const bool register_instance = !o.etcd_endpoints.empty() && o.etcd_register;
  if (register_instance) {
    if (absl::Status s = internal::Registration::Validate(registration_config); !s.ok()) return s;
  }
  // --- end fleet registration ---
  // --- end remote sources ---
  if (!o.config_file.empty()) {
    impl->runners_.push_back(
        internal::StartFileSource(*o.registry, o.config_file, o.file_poll_interval,
                                  /*clock=*/nullptr, *config_format));
  }
  // --- remote sources: start ---
  if (!o.remote_urls.empty()) {
    impl->runners_.push_back(internal::StartHttpSource(*o.registry, http_config));
  } else if (!o.etcd_endpoints.empty()) {
    if (register_instance) {
      impl->registration_ =
          std::make_unique<internal::Registration>(*o.registry, std::move(registration_config));
      etcd_config.on_applied = [r = impl->registration_.get()](int64_t revision,
                                                                int64_t layer_revision) {
        r->Applied(revision, layer_revision);
      };
    }
    impl->runners_.push_back(internal::StartEtcdSource(*o.registry, std::move(etcd_config)));
  } else if (!o.cache_file.empty()) {
    o.registry->Log(LogLevel::kWarning,
                    absl::StrCat("cache ", o.cache_file, ": cache_file (DEGRADE_CACHE_FILE) is set "
                                 "but no remote source is configured; the cache is not used"));
  }
  // --- end remote sources ---
  // --- admin endpoint: start ---
  // Last, so the first request sees every source's start-up state.
  if (!o.admin_addr.empty()) {
    // --- fleet panel: data ---
    if (!o.etcd_endpoints.empty()) {
      // One client for the console's fleet panel, kept by the route; its
      // requests are bounded by etcd_timeout.
      auto client = std::make_shared<internal::EtcdClient>(fleet_client_config);
      admin_config.fleet = [client, prefix = o.etcd_prefix]() -> absl::StatusOr<std::string> {
        absl::StatusOr<internal::FleetSnapshot> fleet = internal::ReadFleet(*client, prefix);
        if (!fleet.ok()) return fleet.status();
        return internal::CompareFleet(*fleet, "", absl::Now())
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      };
    }
    // --- end fleet panel ---
    auto admin = internal::AdminServer::Start(*o.registry, std::move(admin_config));
    if (!admin.ok()) return admin.status();
    impl->admin_ = *std::move(admin);
  }
  // --- end admin endpoint ---
  return std::unique_ptr<Runtime>(new Runtime(std::move(impl)));
}

namespace {

// Reads a variable that must not be empty when set.
absl::StatusOr<std::optional<std::string>> NonEmptyEnv(const char* var, const char* accepted) {
  const char* raw = std::getenv(var);
  if (raw == nullptr) return std::optional<std::string>();
  std::string value(absl::StripAsciiWhitespace(raw));
  if (value.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(var, " is set but empty; accepted: ", accepted, ", or unset"));
  }
  return std::optional<std::string>(std::move(value));
}

// "a, b,,c" -> {"a", "b", "c"}; an empty item is an error (a typo to catch).
absl::StatusOr<std::vector<std::string>> ListEnv(const char* var, const std::string& value,
                                                 const char* accepted) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(value, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (part.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(var, ": \"", value,
                                                     "\" has an empty item; accepted: ", accepted));
    }
    out.emplace_back(part);
  }
  return out;
}

// A whole number of milliseconds in [min_ms, max_ms], digits only; nullopt
// when unset.
absl::StatusOr<std::optional<absl::Duration>> MillisEnv(const char* var, int64_t min_ms,
                                                        int64_t max_ms) {
  constexpr const char* kWhat = "a whole number of milliseconds";
  const std::string accepted = absl::StrCat(kWhat, " from ", min_ms, " to ", max_ms);
  auto raw = NonEmptyEnv(var, accepted.c_str());
  if (!raw.ok()) return raw.status();
  if (!*raw) return std::optional<absl::Duration>();
  absl::StatusOr<int64_t> ms = internal::ParseEnvInteger(var, **raw, kWhat, min_ms, max_ms);
  if (!ms.ok()) return ms.status();
  return std::optional<absl::Duration>(absl::Milliseconds(*ms));
}

}  // namespace

absl::StatusOr<Options> Runtime::OptionsFromEnv() {
  Options o;
  auto file = NonEmptyEnv("DEGRADE_CONFIG_FILE", "the path of a snapshot file");
  if (!file.ok()) return file.status();
  if (*file) o.config_file = **file;
  auto poll = MillisEnv("DEGRADE_FILE_POLL_MS", 10, 60'000);
  if (!poll.ok()) return poll.status();
  if (*poll) o.file_poll_interval = **poll;
  auto config_format = NonEmptyEnv("DEGRADE_CONFIG_FORMAT", "auto, degrade or flagd");
  if (!config_format.ok()) return config_format.status();
  if (*config_format) o.config_format = **config_format;
  auto remote_format = NonEmptyEnv("DEGRADE_REMOTE_FORMAT", "auto, degrade or flagd");
  if (!remote_format.ok()) return remote_format.status();
  if (*remote_format) o.remote_format = **remote_format;

  constexpr const char* kUrls = "comma-separated http:// or https:// URLs";
  auto urls = NonEmptyEnv("DEGRADE_REMOTE_URLS", kUrls);
  if (!urls.ok()) return urls.status();
  if (*urls) {
    auto list = ListEnv("DEGRADE_REMOTE_URLS", **urls, kUrls);
    if (!list.ok()) return list.status();
    for (const std::string& u : *list) {
      if (!absl::StartsWith(u, "http://") && !absl::StartsWith(u, "https://")) {
        return absl::InvalidArgumentError(absl::StrCat("DEGRADE_REMOTE_URLS: \"", u,
                                                       "\" is not a URL; accepted: ", kUrls));
      }
    }
    o.remote_urls = *std::move(list);
  }

  auto interval = MillisEnv("DEGRADE_REMOTE_INTERVAL_MS", 100, 3'600'000);
  if (!interval.ok()) return interval.status();
  if (*interval) o.remote_interval = **interval;
  auto timeout = MillisEnv("DEGRADE_REMOTE_TIMEOUT_MS", 10, 60'000);
  if (!timeout.ok()) return timeout.status();
  if (*timeout) o.remote_timeout = **timeout;
  auto remote_ca = NonEmptyEnv("DEGRADE_REMOTE_CA_FILE", "the path of a PEM CA bundle");
  if (!remote_ca.ok()) return remote_ca.status();
  if (*remote_ca) o.remote_ca_file = **remote_ca;

  constexpr const char* kEndpoints = "comma-separated http(s)://host:port of etcd members";
  auto endpoints = NonEmptyEnv("DEGRADE_ETCD_ENDPOINTS", kEndpoints);
  if (!endpoints.ok()) return endpoints.status();
  if (*endpoints) {
    auto list = ListEnv("DEGRADE_ETCD_ENDPOINTS", **endpoints, kEndpoints);
    if (!list.ok()) return list.status();
    o.etcd_endpoints = *std::move(list);
  }
  auto prefix = NonEmptyEnv("DEGRADE_ETCD_PREFIX", "a key prefix such as /degrade/shop");
  if (!prefix.ok()) return prefix.status();
  if (*prefix) o.etcd_prefix = **prefix;
  auto etcd_user = NonEmptyEnv("DEGRADE_ETCD_USER", "an etcd user name");
  if (!etcd_user.ok()) return etcd_user.status();
  if (*etcd_user) o.etcd_user = **etcd_user;
  // The password may not be logged or echoed; only its presence matters.
  if (const char* password = std::getenv("DEGRADE_ETCD_PASSWORD"); password != nullptr) {
    o.etcd_password = password;
  }
  auto etcd_ca = NonEmptyEnv("DEGRADE_ETCD_CA_FILE", "the path of a PEM CA bundle");
  if (!etcd_ca.ok()) return etcd_ca.status();
  if (*etcd_ca) o.etcd_ca_file = **etcd_ca;

  if (const char* reg = std::getenv("DEGRADE_ETCD_REGISTER"); reg != nullptr) {
    absl::StatusOr<bool> on = internal::ParseEnvFlag("DEGRADE_ETCD_REGISTER", reg);
    if (!on.ok()) return on.status();
    o.etcd_register = *on;
  }
  if (const char* id = std::getenv("DEGRADE_INSTANCE_ID"); id != nullptr) {
    if (absl::Status s = internal::ValidateInstanceId(id, "DEGRADE_INSTANCE_ID"); !s.ok()) {
      return s;
    }
    o.instance_id = id;
  }
  if (const char* ttl = std::getenv("DEGRADE_ETCD_REGISTER_TTL_S"); ttl != nullptr) {
    absl::StatusOr<int64_t> seconds = internal::ParseEnvInteger(
        "DEGRADE_ETCD_REGISTER_TTL_S", ttl, "a whole number of seconds", 1, 3600);
    if (!seconds.ok()) return seconds.status();
    o.etcd_register_ttl = absl::Seconds(*seconds);
  }

  auto cache = NonEmptyEnv("DEGRADE_CACHE_FILE", "the path of the last-known-good cache file");
  if (!cache.ok()) return cache.status();
  if (*cache) o.cache_file = **cache;

  auto admin = NonEmptyEnv("DEGRADE_ADMIN_ADDR", "127.0.0.1:PORT");
  if (!admin.ok()) return admin.status();
  if (*admin) o.admin_addr = **admin;
  const std::string flag_accepted(internal::kAcceptedEnvFlag);
  auto allow_remote = NonEmptyEnv("DEGRADE_ADMIN_ALLOW_REMOTE", flag_accepted.c_str());
  if (!allow_remote.ok()) return allow_remote.status();
  if (*allow_remote) {
    absl::StatusOr<bool> allow = internal::ParseEnvFlag("DEGRADE_ADMIN_ALLOW_REMOTE", **allow_remote);
    if (!allow.ok()) return allow.status();
    o.admin_allow_non_loopback = *allow;
  }
  // The registry applies DEGRADE_LOG_CHANGES when it is built (before main,
  // for the global one), where a bad value can only be logged. Start-up is
  // where it can be refused, so a trail that was asked for is never off
  // without a word.
  auto log_changes = NonEmptyEnv("DEGRADE_LOG_CHANGES", flag_accepted.c_str());
  if (!log_changes.ok()) return log_changes.status();
  if (*log_changes) {
    absl::StatusOr<bool> on = internal::ParseEnvFlag("DEGRADE_LOG_CHANGES", **log_changes);
    if (!on.ok()) return on.status();
  }
  auto cert = NonEmptyEnv("DEGRADE_ADMIN_TLS_CERT", "the path of a PEM certificate chain");
  if (!cert.ok()) return cert.status();
  if (*cert) o.admin_tls_cert_file = **cert;
  auto key = NonEmptyEnv("DEGRADE_ADMIN_TLS_KEY", "the path of a PEM private key");
  if (!key.ok()) return key.status();
  if (*key) o.admin_tls_key_file = **key;
  constexpr const char* kHosts = "comma-separated host names, e.g. svc-1.internal,svc-1";
  auto hosts = NonEmptyEnv("DEGRADE_ADMIN_ALLOWED_HOSTS", kHosts);
  if (!hosts.ok()) return hosts.status();
  if (*hosts) {
    auto list = ListEnv("DEGRADE_ADMIN_ALLOWED_HOSTS", **hosts, kHosts);
    if (!list.ok()) return list.status();
    o.admin_allowed_hosts = *std::move(list);
  }
  // The token may not be logged or echoed; only its presence matters here.
  if (const char* token = std::getenv("DEGRADE_ADMIN_TOKEN"); token != nullptr) {
    o.admin_token = token;
  }
  return o;
}

absl::StatusOr<std::unique_ptr<Runtime>> Runtime::FromEnv(Registry* registry) {
  absl::StatusOr<Options> options = OptionsFromEnv();
  if (!options.ok()) return options.status();
  options->registry = registry;
  return Start(*std::move(options));
}

}  // namespace degrade
