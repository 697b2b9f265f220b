// degrade/prometheus.h: degrade's metrics for services that already expose
// prometheus-cpp metrics.
//
//   #include <degrade/prometheus.h>
//   #include <prometheus/exposer.h>
//
//   prometheus::Exposer exposer{"127.0.0.1:9464"};
//   auto degrade_metrics = degrade::MakePrometheusCollectable();
//   exposer.RegisterCollectable(degrade_metrics);  // holds a weak_ptr: keep
//                                                  // degrade_metrics alive
//
// The families and values are exactly those of the admin endpoint's
// GET /metrics (degrade_switch_enabled, degrade_calls_total, ...; README,
// "Metrics"), read from the registry at every Collect(), i.e. every scrape.
//
// Why a Collectable and not families added to a prometheus::Registry: a
// prometheus::Registry (1.0) only holds metrics that code updates as things
// happen, with no hook to read values at scrape time, while degrade's values
// live in the registry and its per-thread counters. Exposer and Gateway both
// take Collectables beside the service's own Registry.
//
// Optional part: built when meson finds prometheus-cpp (feature option
// `prometheus`, default auto); link the `degrade_prometheus` library
// (pkg-config `degrade-prometheus`) as well as degrade.
#ifndef DEGRADE_PROMETHEUS_H_
#define DEGRADE_PROMETHEUS_H_

#include <memory>

#include "degrade/export.h"
#include "degrade/registry.h"
#include "prometheus/collectable.h"

namespace degrade {

// A Collectable over `registry` (default: Registry::Global()), which must
// outlive it. Collect() may be called from any thread, concurrently; each
// call takes the registry's lock briefly (as Registry::List does) and costs
// about as much as one GET /metrics.
DEGRADE_EXPORT std::shared_ptr<prometheus::Collectable> MakePrometheusCollectable(
    const Registry& registry = Registry::Global());

}  // namespace degrade

#endif  // DEGRADE_PROMETHEUS_H_
