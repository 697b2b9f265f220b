// What the registry reports about itself: messages to the log sink, the
// last kMaxErrors errors, and the health sources report.
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/registry_core.h"

namespace degrade::internal {
namespace {

constexpr size_t kMaxErrors = 100;

}  // namespace

void RegistryCore::Log(LogLevel level, std::string_view message) {
  if (level == LogLevel::kError) {
    MutexLock lock(mu_);
    errors_.push_back({clock_->Now(), std::string(message)});
    if (errors_.size() > kMaxErrors) errors_.pop_front();
  }
  std::shared_ptr<const LogSink> sink;
  {
    MutexLock lock(deliver_mu_);
    sink = sink_;
  }
  if (*sink) (*sink)(level, message);
}

std::vector<ErrorRecord> RegistryCore::errors() const {
  MutexLock lock(mu_);
  return {errors_.begin(), errors_.end()};
}

void RegistryCore::ReportSourceHealth(SourceHealth health) {
  MutexLock lock(mu_);
  sources_[health.name] = std::move(health);
}

std::vector<SourceHealth> RegistryCore::sources() const {
  MutexLock lock(mu_);
  std::vector<SourceHealth> out;
  for (const auto& [name, h] : sources_) out.push_back(h);
  return out;
}

}  // namespace degrade::internal
