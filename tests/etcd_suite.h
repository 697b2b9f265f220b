// A gtest base for a suite that runs against one real etcd member (see
// etcd_fixture.h), started once for the whole suite (a start takes about a
// second), with a client for it and a key prefix of each test's own:
//
//   class FooTest : public test_util::SharedEtcdTest { ... };
//   TEST_F(FooTest, X) { client_->Put(prefix_ + "shed", "3"); ... }
//
// A derived SetUp that adds its own steps calls SharedEtcdTest::SetUp()
// first. Suites run one after another, so the one cluster_ slot serves every
// suite of a binary in turn.
#ifndef DEGRADE_TESTS_ETCD_SUITE_H_
#define DEGRADE_TESTS_ETCD_SUITE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "etcd/etcd_client.h"
#include "etcd_fixture.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace degrade::test_util {

class SharedEtcdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cluster = degrade::testing::EtcdCluster::Start({});
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(cluster_, nullptr) << "etcd did not start (SetUpTestSuite said why)";
    internal::EtcdClient::Config config;
    config.endpoints = cluster_->endpoints();
    client_ = std::make_unique<internal::EtcdClient>(config);
    prefix_ = absl::StrCat("/degrade/",
                           ::testing::UnitTest::GetInstance()->current_test_info()->name(), "/");
  }

  // degradectl's options for this etcd and this test's prefix.
  std::vector<std::string> EtcdArgs() const {
    return {"--etcd", cluster_->endpoints_csv(), "--prefix", prefix_};
  }

  // The value under prefix_ + rel, parsed (a discarded value when it is not
  // JSON); nullopt when there is no such key.
  std::optional<nlohmann::json> Value(const std::string& rel) {
    auto r = client_->Range(prefix_ + rel, "");
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok() || r->kvs.empty()) return std::nullopt;
    return nlohmann::json::parse(r->kvs.front().value, nullptr, false);
  }

  // Puts prefix_ + rel; the write's revision (0 when it failed, which fails
  // the test).
  int64_t Put(const std::string& rel, const std::string& value) {
    absl::StatusOr<int64_t> rev = client_->Put(prefix_ + rel, value);
    EXPECT_TRUE(rev.ok()) << rev.status();
    return rev.ok() ? *rev : 0;
  }

  inline static degrade::testing::EtcdCluster* cluster_ = nullptr;
  std::unique_ptr<internal::EtcdClient> client_;
  std::string prefix_;
};

}  // namespace degrade::test_util

#endif  // DEGRADE_TESTS_ETCD_SUITE_H_
