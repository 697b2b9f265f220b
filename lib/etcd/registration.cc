// Fleet registration. See registration.h for the behaviour.
//
// Why a change applied from etcd does not wake the thread from the
// listener: the listener runs while the watch applies revision R, before
// the watch calls Applied(R). A write woken by the listener would carry the
// previous revision, and the write that carries R would then wait out
// min_interval: `degradectl --wait` would see every instance 200 ms late.
// Applied(R) wakes the thread once the whole message is applied.
//
// Why health is compared as text: only healthy and last_error matter to
// the fleet view; counters (applied, last_success) change all the time and
// must not cause writes.
#include "etcd/registration.h"

#include <unistd.h>

#include <algorithm>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/str_util.h"
#include "etcd/etcd_source.h"

namespace degrade::internal {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxIdLength = 128;
constexpr absl::Duration kRetryAfter = absl::Seconds(1);

bool IdChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

std::string Rfc3339(absl::Time t, bool millis) {
  return absl::FormatTime(millis ? "%Y-%m-%dT%H:%M:%E3SZ" : "%Y-%m-%dT%H:%M:%SZ", t,
                          absl::UTCTimeZone());
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

bool IsPowerOfTwo(uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

}  // namespace

absl::Status ValidateInstanceId(std::string_view id, std::string_view what) {
  const auto bad = [&](std::string_view problem) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(what), ": \"", ToAbsl(id), "\" ", ToAbsl(problem),
        "; accepted: 1 to 128 characters of A-Z a-z 0-9 . _ -, starting with a letter or a "
        "digit (unset: hostname-pid)"));
  };
  if (id.empty()) return bad("is empty");
  if (id.size() > kMaxIdLength) return bad(absl::StrCat("is ", id.size(), " characters long"));
  if (!absl::ascii_isalnum(static_cast<unsigned char>(id.front()))) {
    return bad("does not start with a letter or a digit");
  }
  for (char c : id) {
    if (!IdChar(c)) {
      return bad(absl::StrCat("holds '", std::string(1, c), "'"));
    }
  }
  return absl::OkStatus();
}

std::string DefaultInstanceId() {
  std::string host = HostName();
  for (char& c : host) {
    if (!IdChar(c)) c = '-';
  }
  if (host.empty() || !absl::ascii_isalnum(static_cast<unsigned char>(host.front()))) {
    host = "host" + host;
  }
  std::string id = absl::StrCat(host, "-", getpid());
  if (id.size() > kMaxIdLength) id = id.substr(id.size() - kMaxIdLength);
  return id;
}

absl::Status Registration::Validate(const Config& config) {
  if (absl::Status s = EtcdClient::Validate(config.client); !s.ok()) return s;
  if (config.prefix.empty()) {
    return absl::InvalidArgumentError(
        "etcd_prefix is empty; accepted: a key prefix such as /degrade/shop");
  }
  if (absl::Status s = ValidateInstanceId(config.id, "instance id (DEGRADE_INSTANCE_ID)");
      !s.ok()) {
    return s;
  }
  if (config.ttl < absl::Seconds(1) || config.ttl > absl::Hours(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd registration ttl ", absl::FormatDuration(config.ttl),
                     " is not valid; accepted: 1s to 1h (default 10s)"));
  }
  if (config.min_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd registration min_interval ", absl::FormatDuration(config.min_interval),
                     " is negative; accepted: 0 or more (default 200ms)"));
  }
  return absl::OkStatus();
}

Registration::Registration(Registry& registry, Config config)
    : registry_(registry),
      config_(std::move(config)),
      prefix_(NormalizeEtcdPrefix(config_.prefix)),
      key_(absl::StrCat(prefix_, ToAbsl(kInstancesDir), config_.id)),
      host_(HostName()),
      pid_(getpid()),
      started_at_(absl::Now()),
      client_(config_.client) {
  listener_id_ = registry_.AddListener([shared = shared_](const ChangeEvent& e) {
    std::lock_guard<std::mutex> lock(shared->mu);
    shared->dirty = true;
    // An etcd change is followed by Applied(), which wakes the thread.
    if (!e.revision.has_value()) shared->cv.notify_one();
  });
  thread_ = std::thread([this] { Run(); });
}

Registration::~Registration() {
  registry_.RemoveListener(listener_id_);
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->stop = true;
  }
  shared_->cv.notify_one();
  thread_.join();
}

void Registration::Applied(int64_t revision, int64_t layer_revision) {
  int64_t cur = revision_.load(std::memory_order_relaxed);
  while (revision > cur && !revision_.compare_exchange_weak(cur, revision)) {
  }
  if (layer_revision < 0) return;
  cur = layer_revision_.load(std::memory_order_relaxed);
  while (layer_revision > cur && !layer_revision_.compare_exchange_weak(cur, layer_revision)) {
  }
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->dirty = true;
    shared_->applied = true;
  }
  shared_->cv.notify_one();
}

Registration::Stats Registration::stats() const {
  std::lock_guard<std::mutex> lock(shared_->mu);
  return shared_->stats;
}

std::string Registration::HealthKey() const {
  std::string out;
  for (const SourceHealth& h : registry_.sources()) {
    absl::StrAppend(&out, h.name, "\n", h.healthy ? "1" : "0", "\n", h.last_error, "\n");
  }
  return out;
}

std::string Registration::Value() {
  json sources = json::array();
  for (const SourceHealth& h : registry_.sources()) {
    sources.push_back({{"name", h.name},
                       {"target", h.target},
                       {"healthy", h.healthy},
                       {"last_error", h.last_error}});
  }
  json switches = json::object();
  for (const SwitchInfo& info : registry_.List()) {
    if (!info.defined) continue;
    json fault = nullptr;
    if (info.effective.fault.has_value()) {
      const Fault& f = *info.effective.fault;
      fault = {{"kind", f.kind == Fault::Kind::kDelay ? "delay" : "error"},
               {"rate", f.rate},
               {"delay_ms", f.delay_ms}};
    }
    switches[info.name] = {{"state", info.effective.state == State::kOff ? "off" : "on"},
                           {"allow", info.effective.allow},
                           {"fault", std::move(fault)},
                           {"layer", std::string(LayerName(info.deciding_layer))},
                           {"groups", info.groups},
                           {"tier", info.tier}};
  }
  const json value = {{"id", config_.id},
                      {"host", host_},
                      {"pid", pid_},
                      {"version", config_.version},
                      {"started_at", Rfc3339(started_at_, false)},
                      {"revision", revision_.load()},
                      {"layer_revision", layer_revision_.load()},
                      {"written_at", Rfc3339(absl::Now(), true)},
                      {"sources", std::move(sources)},
                      {"switches", std::move(switches)}};
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

absl::Status Registration::Write() {
  if (lease_id_ == 0) {
    absl::StatusOr<EtcdClient::Lease> lease = client_.LeaseGrant(config_.ttl);
    if (!lease.ok()) return lease.status();
    lease_id_ = lease->id;
    granted_ = true;
    std::lock_guard<std::mutex> lock(shared_->mu);
    ++shared_->stats.grants;
  }
  absl::StatusOr<int64_t> put = client_.PutWithLease(key_, Value(), lease_id_);
  if (absl::IsNotFound(put.status())) {
    // The lease expired while etcd could not be reached: a new one.
    lease_id_ = 0;
    return Write();
  }
  if (!put.ok()) return put.status();
  std::lock_guard<std::mutex> lock(shared_->mu);
  ++shared_->stats.writes;
  return absl::OkStatus();
}

void Registration::Failed(std::string_view what, const absl::Status& status) {
  ++consecutive_failures_;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    ++shared_->stats.failures;
  }
  if (IsPowerOfTwo(consecutive_failures_)) {
    registry_.Log(LogLevel::kWarning,
                  absl::StrCat("etcd registration ", key_, ": ", ToAbsl(what), " failed (",
                               consecutive_failures_, " in a row): ", status.message(),
                               "; retrying"));
  }
}

void Registration::Run() {
  const absl::Duration keepalive_every = config_.ttl / 3;
  absl::Time last_write = absl::InfinitePast();
  absl::Time next_keepalive = absl::Now() + keepalive_every;
  absl::Time retry_at = absl::InfinitePast();
  last_health_ = HealthKey();
  std::unique_lock<std::mutex> lock(shared_->mu);
  while (!shared_->stop) {
    const absl::Time now = absl::Now();
    const absl::Time write_at = std::max(last_write + config_.min_interval, retry_at);
    if (shared_->dirty && shared_->applied && now >= write_at) {
      shared_->dirty = false;
      lock.unlock();
      last_health_ = HealthKey();
      const absl::Status s = Write();
      last_write = absl::Now();
      if (s.ok()) {
        consecutive_failures_ = 0;
        // A put does not renew the lease: only a keep-alive does, on its own
        // schedule, however often the value is written. A new lease starts
        // that schedule again.
        if (granted_) next_keepalive = last_write + keepalive_every;
        granted_ = false;
        retry_at = absl::InfinitePast();
      } else {
        Failed("writing the registration", s);
        retry_at = last_write + kRetryAfter;
      }
      lock.lock();
      if (!s.ok()) shared_->dirty = true;
      continue;
    }
    if (now >= next_keepalive) {
      lock.unlock();
      bool rewrite = false;
      if (lease_id_ != 0) {
        absl::StatusOr<int64_t> ttl = client_.LeaseKeepAliveOnce(lease_id_);
        if (ttl.ok()) {
          std::lock_guard<std::mutex> l(shared_->mu);
          ++shared_->stats.keepalives;
        } else if (absl::IsNotFound(ttl.status())) {
          lease_id_ = 0;  // expired: the key is gone; grant and write again
          rewrite = true;
        } else {
          Failed("renewing the lease", ttl.status());
        }
      }
      // A source's health changed since the last write: the fleet should see it.
      if (HealthKey() != last_health_) rewrite = true;
      next_keepalive = absl::Now() + keepalive_every;
      lock.lock();
      if (rewrite) shared_->dirty = true;
      continue;
    }
    const absl::Time wake =
        shared_->dirty && shared_->applied ? std::min(write_at, next_keepalive) : next_keepalive;
    shared_->cv.wait_for(lock, absl::ToChronoNanoseconds(std::max(wake - now, absl::Milliseconds(1))));
  }
  lock.unlock();
  if (lease_id_ != 0) {
    // A clean exit leaves the fleet at once (bounded by the client timeout;
    // skipped when etcd is failing, so stopping does not wait on it).
    if (consecutive_failures_ == 0) (void)client_.LeaseRevoke(lease_id_);
  }
}

}  // namespace degrade::internal
