// Runtime: owns the background sources and stops them on destruction.
#include "degrade/runtime.h"

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "admin_server.h"
#include "etcd_source.h"
#include "file_source.h"
#include "http_source.h"

namespace degrade {

class Runtime::Impl {
 public:
  explicit Impl(Options options) : options_(std::move(options)) {}
  Options options_;
  // Destroyed in reverse order of declaration: each stops and joins its own
  // threads. The admin endpoint goes first so no request sees a half-stopped
  // runtime.
  std::unique_ptr<internal::FileSource> file_;
  // --- remote sources (HTTP polling, etcd): members ---
  std::unique_ptr<internal::HttpSource> http_;
  std::unique_ptr<internal::EtcdSource> etcd_;
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
  auto impl = std::make_unique<Impl>(std::move(options));
  const Options& o = impl->options_;
  // --- admin endpoint: validate ---
  // Checked before any source starts: a typo in the address fails Start
  // with nothing running.
  internal::AdminConfig admin_config;
  admin_config.addr = o.admin_addr;
  admin_config.token = o.admin_token;
  admin_config.allow_non_loopback = o.admin_allow_non_loopback;
  if (!o.admin_addr.empty()) {
    if (absl::Status s = internal::ValidateAdminConfig(admin_config); !s.ok()) return s;
  }
  // --- end admin endpoint ---
  // --- remote sources: validate ---
  const internal::HttpSource::Config http_config{
      .urls = o.remote_urls,
      .interval = o.remote_interval,
      .timeout = o.remote_timeout,
      .max_body_bytes = o.remote_max_body_bytes,
      .ca_file = o.remote_ca_file,
      .verify_tls = o.remote_verify_tls,
      .cache_file = o.cache_file,
  };
  if (!o.remote_urls.empty()) {
    if (absl::Status s = internal::HttpSource::Validate(http_config); !s.ok()) return s;
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
  // --- end remote sources ---
  if (!o.config_file.empty()) {
    impl->file_ = std::make_unique<internal::FileSource>(*o.registry, o.config_file,
                                                         o.file_poll_interval);
  }
  // --- remote sources: start ---
  if (!o.remote_urls.empty()) {
    impl->http_ = std::make_unique<internal::HttpSource>(*o.registry, http_config);
  } else if (!o.etcd_endpoints.empty()) {
    impl->etcd_ = std::make_unique<internal::EtcdSource>(*o.registry, std::move(etcd_config));
  } else if (!o.cache_file.empty()) {
    o.registry->Log(LogLevel::kWarning,
                    absl::StrCat("cache ", o.cache_file, ": cache_file (DEGRADE_CACHE_FILE) is set "
                                 "but no remote source is configured; the cache is not used"));
  }
  // --- end remote sources ---
  // --- admin endpoint: start ---
  // Last, so the first request sees every source's start-up state.
  if (!o.admin_addr.empty()) {
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

}  // namespace

absl::StatusOr<Options> Runtime::OptionsFromEnv() {
  Options o;
  auto file = NonEmptyEnv("DEGRADE_CONFIG_FILE", "the path of a snapshot file");
  if (!file.ok()) return file.status();
  if (*file) o.config_file = **file;

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

  constexpr const char* kInterval = "a whole number of milliseconds from 100 to 3600000";
  auto interval = NonEmptyEnv("DEGRADE_REMOTE_INTERVAL_MS", kInterval);
  if (!interval.ok()) return interval.status();
  if (*interval) {
    int64_t ms = 0;
    if (!absl::SimpleAtoi(**interval, &ms) || ms < 100 || ms > 3'600'000) {
      return absl::InvalidArgumentError(absl::StrCat("DEGRADE_REMOTE_INTERVAL_MS: \"", **interval,
                                                     "\" is not valid; accepted: ", kInterval));
    }
    o.remote_interval = absl::Milliseconds(ms);
  }

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

  auto cache = NonEmptyEnv("DEGRADE_CACHE_FILE", "the path of the last-known-good cache file");
  if (!cache.ok()) return cache.status();
  if (*cache) o.cache_file = **cache;

  auto admin = NonEmptyEnv("DEGRADE_ADMIN_ADDR", "127.0.0.1:PORT");
  if (!admin.ok()) return admin.status();
  if (*admin) o.admin_addr = **admin;
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
