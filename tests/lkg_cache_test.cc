// The last-known-good cache file against a real filesystem in a temp dir.
#include "sources/lkg_cache.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "degrade/snapshot.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_registry.h"

namespace degrade::internal {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

Snapshot Sample() {
  Snapshot s;
  SwitchValue off;
  off.state = State::kOff;
  off.reason = "INC-4211 vendor 5xx";
  off.expires_at = kNow + absl::Hours(1);
  s.switches["recs"] = off;
  SwitchValue dim;
  dim.allow = 0.25;
  s.switches["search.suggest"] = dim;
  SwitchValue group_off;
  group_off.state = State::kOff;
  s.groups["tier2"] = group_off;
  return s;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<std::string> DirEntries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

class LkgCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("degrade-lkg-test");
    ASSERT_FALSE(dir_.empty());
    path_ = (dir_ / "remote-cache.json").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  std::string path_;
};

TEST_F(LkgCacheTest, WriteThenReadGivesTheSameSnapshot) {
  ASSERT_TRUE(WriteCache(path_, Sample()).ok());
  absl::StatusOr<Snapshot> read = ReadCache(path_, kNow);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, Sample());
}

TEST_F(LkgCacheTest, FileHoldsCanonicalSnapshotJson) {
  ASSERT_TRUE(WriteCache(path_, Sample()).ok());
  EXPECT_EQ(ReadFile(path_), SnapshotToJson(Sample()) + "\n");
}

TEST_F(LkgCacheTest, WriteReplacesThePreviousContentAndLeavesNoTemporaryFile) {
  ASSERT_TRUE(WriteCache(path_, Sample()).ok());
  Snapshot second;
  second.all = Off();
  ASSERT_TRUE(WriteCache(path_, second).ok());
  EXPECT_EQ(*ReadCache(path_, kNow), second);
  EXPECT_THAT(DirEntries(dir_), ::testing::ElementsAre("remote-cache.json"));
}

TEST_F(LkgCacheTest, WriteReplacesByRenameNotInPlace) {
  // A reader holding the old file keeps seeing the old content whole: the
  // new content arrives as a new inode.
  ASSERT_TRUE(WriteCache(path_, Sample()).ok());
  std::ifstream old_reader(path_, std::ios::binary);
  ASSERT_TRUE(WriteCache(path_, Snapshot{}).ok());
  std::ostringstream old_content;
  old_content << old_reader.rdbuf();
  EXPECT_EQ(old_content.str(), SnapshotToJson(Sample()) + "\n");
  EXPECT_EQ(ReadFile(path_), "{}\n");
}

TEST_F(LkgCacheTest, WriteIntoMissingDirectoryIsNotFound) {
  const std::string path = (dir_ / "missing" / "cache.json").string();
  absl::Status s = WriteCache(path, Sample());
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Msg(s), StartsWith("cache " + path + ": cannot create temporary file"));
}

TEST_F(LkgCacheTest, WriteUnderARegularFileIsFailedPrecondition) {
  std::ofstream(dir_ / "not-a-dir") << "x";
  const std::string path = (dir_ / "not-a-dir" / "cache.json").string();
  absl::Status s = WriteCache(path, Sample());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(s), HasSubstr("Not a directory"));
}

TEST_F(LkgCacheTest, WriteOverADirectoryFailsAndRemovesTheTemporaryFile) {
  fs::create_directory(path_);  // rename(2) of a file over a directory fails
  absl::Status s = WriteCache(path_, Sample());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(s), HasSubstr("cannot rename"));
  EXPECT_THAT(DirEntries(dir_), ::testing::ElementsAre("remote-cache.json"));
}

TEST_F(LkgCacheTest, FullDiskKeepsThePreviousFileAndRemovesTheTemporaryFile) {
  // RLIMIT_FSIZE makes write(2) fail with EFBIG past the limit: a full disk
  // without needing one. SIGXFSZ is ignored so the write returns the error.
  ASSERT_TRUE(WriteCache(path_, Sample()).ok());
  Snapshot big;
  for (int i = 0; i < 200; ++i) big.switches["s" + std::to_string(i)] = SwitchValue{};
  struct sigaction ignore {}, old_action {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGXFSZ, &ignore, &old_action), 0);
  rlimit old_limit{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  rlimit small = old_limit;
  small.rlim_cur = 512;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  absl::Status s = WriteCache(path_, big);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  ASSERT_EQ(sigaction(SIGXFSZ, &old_action, nullptr), 0);

  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(Msg(s), HasSubstr("cannot write temporary file"));
  EXPECT_EQ(*ReadCache(path_, kNow), Sample());
  EXPECT_THAT(DirEntries(dir_), ::testing::ElementsAre("remote-cache.json"));
}

TEST_F(LkgCacheTest, ReadMissingFileIsNotFound) {
  absl::StatusOr<Snapshot> read = ReadCache(path_, kNow);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Msg(read.status()), StartsWith("cache " + path_ + ": cannot open"));
}

TEST_F(LkgCacheTest, ReadCorruptFileIsInvalidArgumentNamingTheFile) {
  std::ofstream(path_) << "{\"switches\": {\"recs\": \"off\"";  // cut short
  absl::StatusOr<Snapshot> read = ReadCache(path_, kNow);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(read.status()), StartsWith("cache " + path_ + ": invalid JSON"));
}

TEST_F(LkgCacheTest, ReadWrongTypedValueNamesTheJsonPath) {
  std::ofstream(path_) << R"({"switches": {"recs": {"allow": "half"}}})";
  absl::StatusOr<Snapshot> read = ReadCache(path_, kNow);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(read.status()), HasSubstr("switches.recs.allow"));
}

TEST_F(LkgCacheTest, ReadDirectoryIsFailedPrecondition) {
  fs::create_directory(path_);
  absl::StatusOr<Snapshot> read = ReadCache(path_, kNow);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(read.status()), HasSubstr("not a regular file"));
}

TEST_F(LkgCacheTest, ReadOversizedFileIsFailedPrecondition) {
  {
    std::ofstream out(path_, std::ios::binary);
    out << std::string(kMaxCacheBytes + 1, ' ');
  }
  absl::StatusOr<Snapshot> read = ReadCache(path_, kNow);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(read.status()), HasSubstr("larger than the limit"));
}

TEST_F(LkgCacheTest, ReadReportsUnknownFieldsAsWarnings) {
  std::ofstream(path_) << R"({"switches": {"recs": "off"}, "colour": "red"})";
  std::vector<std::string> warnings;
  absl::StatusOr<Snapshot> read = ReadCache(path_, kNow, &warnings);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_THAT(warnings, ::testing::ElementsAre(HasSubstr("colour: unknown field")));
}

TEST_F(LkgCacheTest, RelativePathWritesIntoTheCurrentDirectory) {
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_);
  absl::Status s = WriteCache("relative.json", Sample());
  fs::current_path(cwd);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(*ReadCache((dir_ / "relative.json").string(), kNow), Sample());
}

}  // namespace
}  // namespace degrade::internal
