// The file layer through a real Runtime and real files in a temporary dir.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "degrade/registry.h"
#include "degrade/runtime.h"
#include "degrade/testing.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test_registry.h"
#include "test_wait.h"

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

namespace fs = std::filesystem;

class FileSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("degrade-file-test");
    ASSERT_FALSE(dir_.empty());
    path_ = (dir_ / "degrade.json").string();
    Registry::Options options;
    options.getenv = NoEnv;
    options.log_sink = logs_.Sink();
    registry_ = std::make_unique<Registry>(std::move(options));
    recs_ = *registry_->Define({.name = "recs", .description = "recommendations"});
    ads_ = *registry_->Define({.name = "ads", .description = "ads", .groups = {"tier2"}});
  }
  void TearDown() override {
    runtime_.reset();
    fs::remove_all(dir_);
  }

  void Start() {
    Options o;
    o.registry = registry_.get();
    o.config_file = path_;
    o.file_poll_interval = absl::Milliseconds(20);
    auto rt = Runtime::Start(o);
    ASSERT_TRUE(rt.ok()) << rt.status();
    runtime_ = *std::move(rt);
  }

  // Atomic replace: write a temporary file, then rename it over the target.
  void WriteAtomically(const std::string& content) {
    const std::string tmp = path_ + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << content;
    }
    ASSERT_EQ(std::rename(tmp.c_str(), path_.c_str()), 0);
  }
  // In place: truncate and rewrite the same inode.
  void WriteInPlace(const std::string& content) {
    std::ofstream out(path_, std::ios::trunc);
    out << content;
  }

  int ErrorLogsContaining(const std::string& needle) {
    int n = 0;
    for (const LogCapture::Line& l : logs_.Lines()) {
      if (l.level == LogLevel::kError && l.message.find(needle) != std::string::npos) ++n;
    }
    return n;
  }

  SourceHealth FileHealth() {
    for (const SourceHealth& h : registry_->sources()) {
      if (h.name == "file") return h;
    }
    return {};
  }

  fs::path dir_;
  std::string path_;
  std::unique_ptr<Registry> registry_;
  Switch* recs_ = nullptr;
  Switch* ads_ = nullptr;
  std::unique_ptr<Runtime> runtime_;
  LogCapture logs_;
};

TEST_F(FileSourceTest, AppliedBeforeStartReturns) {
  WriteAtomically(R"({"switches": {"recs": "off"}})");
  Start();
  EXPECT_FALSE(recs_->enabled());
  EXPECT_EQ(registry_->Get("recs")->deciding_layer, Layer::kFile);
  EXPECT_TRUE(FileHealth().healthy);
  EXPECT_EQ(FileHealth().applied, 1u);
}

TEST_F(FileSourceTest, AtomicReplaceIsPickedUp) {
  WriteAtomically(R"({"switches": {"recs": "off"}})");
  Start();
  WriteAtomically(R"({"switches": {"recs": "on"}, "groups": {"tier2": "off"}})");
  EXPECT_TRUE(Eventually([&] { return recs_->enabled() && !ads_->enabled(); }));
}

TEST_F(FileSourceTest, ReloadIsTheFilesAndNamesItsPath) {
  registry_->SetLogChanges(true);
  WriteAtomically(R"({"switches": {"recs": "off"}})");
  Start();
  WriteAtomically(R"({"switches": {"recs": "on"}})");
  std::string line;
  ASSERT_TRUE(Eventually([&] {
    for (const LogCapture::Line& l : logs_.Lines()) {
      if (l.level == LogLevel::kChange && l.message.find(R"("new":{"state":"on"})") != std::string::npos) {
        line = l.message;
      }
    }
    return !line.empty();
  }));
  const nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j.at("actor"), "file");
  EXPECT_EQ(j.at("reason"), path_ + " reloaded");
  EXPECT_EQ(j.at("old_layer"), "file");
  EXPECT_EQ(j.at("layer"), "file");
}

TEST_F(FileSourceTest, InPlaceWriteIsPickedUp) {
  WriteInPlace(R"({"all": "on"})");
  Start();
  WriteInPlace(R"({"all": "off"})");
  EXPECT_TRUE(Eventually([&] { return !recs_->enabled() && !ads_->enabled(); }));
}

// The promise (README, docs/contract.md: re-read "within 1 s of a change") is
// about the poll interval: one interval plus a 20 ms settle and the read, so
// it holds for any interval up to 800 ms. That part is checked exactly, on the
// default. The timed part checks the mechanism: with nothing configured, a
// change is picked up by the polling thread. Its bound is 3 s, not 1 s, so a
// loaded or sanitized machine's stalls do not fail it; it still rules out a
// poller that never runs or one at a multi-second interval.
TEST_F(FileSourceTest, ChangeShowsWithinOneSecondAtDefaultInterval) {
  EXPECT_LE(Options{}.file_poll_interval, absl::Milliseconds(800));
  WriteAtomically(R"({"all": "on"})");
  Options o;
  o.registry = registry_.get();
  o.config_file = path_;  // default poll interval
  auto rt = Runtime::Start(o);
  ASSERT_TRUE(rt.ok());
  runtime_ = *std::move(rt);
  const auto start = std::chrono::steady_clock::now();
  WriteAtomically(R"({"all": "off"})");
  ASSERT_TRUE(Eventually([&] { return !recs_->enabled(); }));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(3));
  std::cout << "[ measure ] change seen after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms (default poll interval "
            << absl::FormatDuration(Options{}.file_poll_interval) << ")\n";
}

TEST_F(FileSourceTest, BadJsonKeepsLastGoodStateAndIsReported) {
  WriteAtomically(R"({"switches": {"recs": "off"}})");
  Start();
  WriteAtomically(R"({"switches": {"recs": "on")");  // truncated
  ASSERT_TRUE(Eventually([&] { return !FileHealth().healthy; }));
  EXPECT_FALSE(recs_->enabled());
  EXPECT_NE(FileHealth().last_error.find("invalid JSON"), std::string::npos)
      << FileHealth().last_error;
  // The source turns unhealthy, then logs: under TSan the line came a few
  // milliseconds after the health the test had already seen.
  EXPECT_TRUE(Eventually([&] { return ErrorLogsContaining(path_) >= 1; }));
}

TEST_F(FileSourceTest, WrongTypeKeepsLastGoodStateAndNamesThePath) {
  WriteAtomically(R"({"switches": {"recs": "off"}})");
  Start();
  WriteAtomically(R"({"switches": {"recs": "off", "ads": {"allow": 1.5}}})");
  ASSERT_TRUE(Eventually([&] { return !FileHealth().healthy; }));
  EXPECT_FALSE(recs_->enabled());
  EXPECT_TRUE(ads_->enabled());  // the half that was valid was not applied
  EXPECT_NE(FileHealth().last_error.find("switches.ads.allow"), std::string::npos)
      << FileHealth().last_error;
}

TEST_F(FileSourceTest, DuplicateKeyKeepsLastGoodStateAndNamesThePath) {
  WriteAtomically(R"({"switches": {"recs": "off"}})");
  Start();
  WriteAtomically(R"({"switches": {"recs": "on", "ads": {"state": "off", "state": "on"}}})");
  ASSERT_TRUE(Eventually([&] { return !FileHealth().healthy; }));
  EXPECT_FALSE(recs_->enabled());
  EXPECT_TRUE(ads_->enabled());
  EXPECT_EQ(FileHealth().last_error,
            "file " + path_ + R"(: switches.ads: duplicate key "state"; each key may appear once)");
}

TEST_F(FileSourceTest, DeletedFileKeepsLastGoodState) {
  WriteAtomically(R"({"switches": {"recs": "off"}})");
  Start();
  ASSERT_EQ(std::remove(path_.c_str()), 0);
  ASSERT_TRUE(Eventually([&] { return !FileHealth().healthy; }));
  EXPECT_FALSE(recs_->enabled());
  EXPECT_NE(FileHealth().last_error.find("No such file"), std::string::npos);
}

TEST_F(FileSourceTest, MissingAtStartIsReportedAndAppliedWhenItAppears) {
  Start();
  EXPECT_FALSE(FileHealth().healthy);
  EXPECT_TRUE(recs_->enabled());
  EXPECT_EQ(ErrorLogsContaining("cannot read"), 1);
  WriteAtomically(R"({"switches": {"recs": "off"}})");
  EXPECT_TRUE(Eventually([&] { return !recs_->enabled(); }));
  EXPECT_TRUE(Eventually([&] { return FileHealth().healthy; }));
}

TEST_F(FileSourceTest, UnreadableFileIsReported) {
  if (geteuid() == 0) {
    // root reads anything: make it a directory instead, which no one reads.
    fs::create_directory(path_);
  } else {
    WriteAtomically(R"({"all": "off"})");
    ASSERT_EQ(chmod(path_.c_str(), 0), 0);
  }
  Start();
  EXPECT_FALSE(FileHealth().healthy);
  EXPECT_TRUE(recs_->enabled());
  EXPECT_FALSE(FileHealth().last_error.empty());
}

TEST_F(FileSourceTest, RepeatedProblemIsLoggedOnce) {
  Start();  // missing file, polled every 20 ms
  ASSERT_TRUE(Eventually([&] { return FileHealth().consecutive_failures >= 5; }));
  EXPECT_EQ(ErrorLogsContaining("cannot read"), 1);
}

TEST_F(FileSourceTest, RecoversAfterBadFileIsFixed) {
  WriteAtomically(R"({"switches": {"recs": "off"}})");
  Start();
  WriteAtomically("not json");
  ASSERT_TRUE(Eventually([&] { return !FileHealth().healthy; }));
  WriteAtomically(R"({"switches": {"recs": "on"}})");
  EXPECT_TRUE(Eventually([&] { return recs_->enabled() && FileHealth().healthy; }));
  EXPECT_EQ(FileHealth().consecutive_failures, 0u);
}

TEST_F(FileSourceTest, LastSuccessMovesOnEveryCheckOfAnUnchangedFile) {
  // An alert on the age of last_success must not fire for a healthy idle
  // file: every successful check confirms the view, not only a change.
  WriteAtomically(R"({"switches": {"recs": "off"}})");
  testing::FakeClock wall;
  Registry registry(QuietOptions(&wall));
  Options o;
  o.registry = &registry;
  o.config_file = path_;
  o.file_poll_interval = absl::Milliseconds(20);
  auto rt = Runtime::Start(o);
  ASSERT_TRUE(rt.ok()) << rt.status();
  auto health = [&] {
    for (const SourceHealth& h : registry.sources()) {
      if (h.name == "file") return h;
    }
    return SourceHealth{};
  };
  ASSERT_EQ(health().last_success, wall.Now());
  wall.Advance(absl::Hours(1));
  EXPECT_TRUE(Eventually([&] { return health().last_success == wall.Now(); }));
  EXPECT_TRUE(health().healthy);
  EXPECT_EQ(health().applied, 1u);
}

TEST_F(FileSourceTest, StoppingRuntimeKeepsState) {
  WriteAtomically(R"({"switches": {"recs": "off"}})");
  Start();
  runtime_.reset();
  EXPECT_FALSE(recs_->enabled());
  WriteAtomically(R"({"switches": {"recs": "on"}})");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(recs_->enabled()) << "a stopped runtime must not apply changes";
}

}  // namespace
}  // namespace degrade
