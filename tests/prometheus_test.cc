// degrade/prometheus.h: the Collectable yields the families of GET /metrics,
// and prometheus-cpp's own serializer writes them.
#include "degrade/prometheus.h"

#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "degrade/call.h"
#include "degrade/registry.h"
#include "gtest/gtest.h"
#include "test_registry.h"
#include "admin/metrics.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

TEST(PrometheusTest, CollectableHasTheSameFamiliesAsTheTextEndpoint) {
  Registry registry(QuietOptions());
  ASSERT_TRUE(registry.Define({.name = "p.recs", .description = "x"}).ok());
  const auto families = MakePrometheusCollectable(registry)->Collect();
  const auto ours = internal::CollectMetrics(registry);
  ASSERT_EQ(families.size(), ours.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_EQ(families[i].name, ours[i].name);
    EXPECT_EQ(families[i].help, ours[i].help);
    EXPECT_EQ(families[i].metric.size(), ours[i].samples.size()) << ours[i].name;
  }
}

TEST(PrometheusTest, ValuesAreReadAtEachCollect) {
  Registry registry(QuietOptions());
  Switch* sw = *registry.Define({.name = "p.recs", .description = "x"});
  auto collectable = MakePrometheusCollectable(registry);
  SwitchValue off;
  off.state = State::kOff;
  ASSERT_TRUE(registry.SetOverride("p.recs", off).ok());
  Call(*sw, [] { return 1; }, [] { return 0; });

  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, collectable->Collect());
  const std::string text = out.str();
  EXPECT_TRUE(absl::StrContains(text, "degrade_switch_enabled{switch=\"p.recs\"} 0")) << text;
  EXPECT_TRUE(absl::StrContains(text, "degrade_calls_total{switch=\"p.recs\",outcome=\"skipped\"} 1"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "# TYPE degrade_calls_total counter")) << text;
}

}  // namespace
}  // namespace degrade
