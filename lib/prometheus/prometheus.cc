// degrade's metrics as a prometheus-cpp Collectable (see degrade/prometheus.h).
// The definitions come from metrics.h, the one list the text format uses too.
#include "degrade/prometheus.h"

#include <vector>

#include "admin/metrics.h"
#include "prometheus/client_metric.h"
#include "prometheus/metric_family.h"
#include "prometheus/metric_type.h"

namespace degrade {
namespace {

class DegradeCollectable final : public prometheus::Collectable {
 public:
  explicit DegradeCollectable(const Registry& registry) : registry_(registry) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    for (internal::MetricFamily& f : internal::CollectMetrics(registry_)) {
      prometheus::MetricFamily family;
      family.name = std::move(f.name);
      family.help = std::move(f.help);
      const bool counter = f.type == internal::MetricType::kCounter;
      family.type = counter ? prometheus::MetricType::Counter : prometheus::MetricType::Gauge;
      family.metric.reserve(f.samples.size());
      for (internal::MetricSample& s : f.samples) {
        prometheus::ClientMetric m;
        for (auto& [name, value] : s.labels) m.label.push_back({name, std::move(value)});
        if (counter) {
          m.counter.value = s.value;
        } else {
          m.gauge.value = s.value;
        }
        family.metric.push_back(std::move(m));
      }
      out.push_back(std::move(family));
    }
    return out;
  }

 private:
  const Registry& registry_;
};

}  // namespace

std::shared_ptr<prometheus::Collectable> MakePrometheusCollectable(const Registry& registry) {
  return std::make_shared<DegradeCollectable>(registry);
}

}  // namespace degrade
