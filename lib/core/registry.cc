// The registry (see degrade/registry.h): Registry's methods, each handed to
// RegistryCore, and the core's construction and destruction. Where the rest
// lives: core/registry_core.h.
#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/registry_core.h"
#include "core/str_util.h"

namespace degrade {
namespace internal {
namespace {

// Registry::Global(), once created (see GlobalRegistryIfCreated).
std::atomic<Registry*> g_global_registry{nullptr};

}  // namespace

Registry* GlobalRegistryIfCreated() noexcept {
  return g_global_registry.load(std::memory_order_acquire);
}

RegistryCore::RegistryCore(Registry* owner, Registry::Options options)
    : owner_(owner),
      clock_(options.clock != nullptr ? options.clock : &Clock::Real()),
      timer_threads_(options.timer_threads),
      getenv_(std::move(options.getenv)),
      sink_(std::make_shared<const LogSink>(options.log_sink ? std::move(options.log_sink)
                                                              : StderrLogSink())) {
  std::vector<PendingLog> logs;
  {
    MutexLock lock(mu_);
    for (auto& layer : layers_) layer = std::make_shared<const Snapshot>();
    ReadProcessEnvLocked(logs);
  }
  if (std::optional<GovernorOptions> governor = GovernorOptionsFromEnv(logs)) {
    // Checked by GovernorOptionsFromEnv: cannot fail.
    (void)ConfigureGovernor(*governor);
  }
  for (auto& l : logs) Log(l.level, l.message);
}

RegistryCore::~RegistryCore() {
  StopGovernorThread();
  StopBreakerThread();
  {
    MutexLock lock(mu_);
    stop_ = true;
    destroying_ = true;
    breaker_switches_.clear();
  }
  expiry_cv_.NotifyAll();
  if (expiry_thread_.joinable()) expiry_thread_.join();
  // Registry-owned switches are always registered (Define frees a switch
  // that fails to register), so the set finds them all.
  std::vector<Switch*> owned;
  {
    MutexLock lock(mu_);
    for (Switch* sw : switches_) {
      SwitchData& d = RegistryAccess::Data(*sw);
      d.registry = nullptr;
      if (d.registry_owned) owned.push_back(sw);
    }
    switches_.clear();
  }
  for (Switch* sw : owned) delete sw;
}

}  // namespace internal

// ------------------------------------------------------------------ Registry

Registry::Registry() : Registry(Options{}) {}
Registry::Registry(Options options)
    : core_(std::make_unique<internal::RegistryCore>(this, std::move(options))) {}
Registry::~Registry() = default;

Registry& Registry::Global() {
  // Never destroyed: DEGRADE_SWITCH globals in other translation units may be
  // destroyed after any other static, and unregister themselves from it.
  static Registry* global = [] {
    auto* r = new Registry();
    internal::g_global_registry.store(r, std::memory_order_release);
    return r;
  }();
  return *global;
}

absl::StatusOr<Switch*> Registry::Define(SwitchSpec spec) { return core_->Define(std::move(spec)); }
Switch* Registry::Find(std::string_view name) const { return core_->Find(name); }
std::vector<SwitchInfo> Registry::List() const { return core_->List(); }
absl::StatusOr<SwitchInfo> Registry::Get(std::string_view name) const { return core_->Get(name); }
absl::Status Registry::SetOverride(std::string_view name, SwitchValue value, absl::Duration ttl) {
  // Code's own writes: the value's actor (else "api") and reason.
  return core_->SetOverride(name, std::move(value), ttl, internal::Cause{});
}
absl::Status Registry::ClearOverride(std::string_view name) {
  return core_->ClearOverride(name, internal::MakeCause("api", ""));
}
absl::Status Registry::SetShed(Shed shed, absl::Duration ttl) {
  return core_->SetShed(std::move(shed), ttl, internal::Cause{});
}
absl::Status Registry::ClearShed() { return core_->ClearShed(internal::MakeCause("api", "")); }
std::vector<LayerShed> Registry::Sheds() const { return core_->Sheds(); }
absl::Status Registry::ApplySnapshot(Layer layer, Snapshot snapshot, std::string_view source) {
  return core_->ApplySnapshot(layer, std::move(snapshot), source,
                              internal::RegistryCore::Checked::kNothing,
                              internal::SourceCause(source, layer));
}

absl::Status Registry::ApplySnapshotJson(Layer layer, std::string_view json,
                                         std::string_view source) {
  std::vector<std::string> warnings;
  absl::StatusOr<Snapshot> parsed = ParseSnapshot(json, source, clock().Now(), &warnings);
  for (const std::string& w : warnings) Log(LogLevel::kWarning, w);
  absl::Status status =
      parsed.ok() ? core_->ApplySnapshot(layer, *std::move(parsed), source,
                                         internal::RegistryCore::Checked::kNamesAndValues,
                                         internal::SourceCause(source, layer))
                  : parsed.status();
  if (!status.ok()) {
    Log(LogLevel::kError, absl::StrCat(status.message(), "; the ", internal::ToAbsl(LayerName(layer)),
                                       " layer keeps its last good state"));
  }
  return status;
}

Snapshot Registry::LayerSnapshot(Layer layer) const { return core_->LayerSnapshot(layer); }
uint64_t Registry::AddListener(Listener listener) { return core_->AddListener(std::move(listener)); }
void Registry::RemoveListener(uint64_t id) { core_->RemoveListener(id); }
void Registry::SetLogSink(LogSink sink) { core_->SetLogSink(std::move(sink)); }
void Registry::SetLogChanges(bool on) { core_->SetLogChanges(on); }
void Registry::Log(LogLevel level, std::string_view message) const {
  core_->Log(level, message);
}
std::vector<ErrorRecord> Registry::errors() const { return core_->errors(); }
void Registry::ReportSourceHealth(SourceHealth health) {
  core_->ReportSourceHealth(std::move(health));
}
std::vector<SourceHealth> Registry::sources() const { return core_->sources(); }
void Registry::ProcessExpiries() { core_->ProcessExpiries(); }
void Registry::ProcessBreakers() { core_->ProcessBreakers(); }
Clock& Registry::clock() const noexcept { return core_->clock(); }

}  // namespace degrade
