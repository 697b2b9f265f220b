// File layer: poll stat(2) and re-apply when the file changes.
//
// Polling, not inotify: it sees both an atomic rename over the file and an
// in-place write, survives the directory being replaced (Kubernetes
// ConfigMaps swap a symlink), and costs one stat per interval. A change is
// read only once the signature is stable across a short pause, so a writer
// caught mid-write is not reported as a broken file.
//
// Why an unchanged bad file is reported again on every poll (and counted in
// consecutive_failures): the view is not confirmed while the file is bad;
// the runner logs the problem once.
#include "sources/file_source.h"

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "degrade/snapshot.h"

namespace degrade::internal {
namespace {

// How long a changed signature must hold still before the file is read.
constexpr auto kSettle = std::chrono::milliseconds(20);
// A stat and a read of a local snapshot take microseconds; one that takes
// this long (a hung network filesystem) shows as a stall in health.
constexpr absl::Duration kCheckBudget = absl::Seconds(2);

class FilePoll final : public PollStrategy {
 public:
  FilePoll(std::string path, SnapshotFormat format)
      : path_(std::move(path)), source_("file " + path_), format_(format) {}

  PollResult Poll(RunContext& ctx) override {
    // Nothing can interrupt a stat(2): the deadline only reports the stall.
    std::unique_ptr<Operation> op = ctx.Arm(absl::StrCat(source_, ": check"), kCheckBudget, {});
    return Check(ctx);
  }

  void Accepted(bool applied) override {
    if (applied) {
      applied_content_ = std::move(pending_content_);
      applied_ = true;
      last_error_.clear();
    } else {
      last_error_ = "the registry refused the snapshot";
    }
    pending_content_.clear();
  }

 private:
  struct Signature {
    bool exists = false;
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
    bool operator==(const Signature&) const = default;
  };

  Signature Stat(std::string* error) const {
    Signature sig;
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
      *error = absl::StrCat(source_, ": cannot read: ", std::strerror(errno));
      return sig;
    }
    if (!S_ISREG(st.st_mode)) {
      *error = absl::StrCat(source_, ": not a regular file");
      return sig;
    }
    sig.exists = true;
    sig.dev = st.st_dev;
    sig.ino = st.st_ino;
    sig.size = static_cast<uint64_t>(st.st_size);
    sig.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
    sig.ctime_ns = int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec;
    return sig;
  }

  PollResult Fail(std::string error) {
    last_error_ = error;
    return PollResult::Failed(source_, std::move(error));
  }

  PollResult Check(RunContext& ctx) {
    std::string error;
    const Signature sig = Stat(&error);
    if (!sig.exists) {
      seen_valid_ = false;
      return Fail(std::move(error));
    }
    if (seen_valid_ && sig == seen_) {
      // Checked and unchanged: the layer holds this file's view, or the
      // file is still the bad one reported before.
      if (!last_error_.empty()) return PollResult::Failed(source_, last_error_);
      return PollResult::NotModified(source_, path_);
    }
    // Let a writer finish: read only a signature that holds still briefly.
    std::this_thread::sleep_for(kSettle);
    if (Stat(&error) != sig) {
      // Still changing: the last view stands; read it on the next poll.
      if (!last_error_.empty()) return PollResult::Failed(source_, last_error_);
      if (applied_) return PollResult::NotModified(source_, path_);
      return PollResult::Failed(source_, absl::StrCat(source_, ": still being written"));
    }
    std::ifstream in(path_, std::ios::binary);
    if (!in) {
      seen_valid_ = false;
      return Fail(absl::StrCat(source_, ": cannot open: ", std::strerror(errno)));
    }
    seen_ = sig;
    seen_valid_ = true;
    if (sig.size > kMaxSnapshotFileBytes) {
      return Fail(absl::StrCat(source_, ": ", sig.size, " bytes is larger than the limit of ",
                               kMaxSnapshotFileBytes, " bytes"));
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    std::string content = buf.str();
    if (applied_ && content == applied_content_) {
      last_error_.clear();  // touched, or put back as it was: fine
      return PollResult::NotModified(source_, path_);
    }
    std::vector<std::string> warnings;
    Registry& registry = ctx.registry();
    absl::StatusOr<Snapshot> parsed = ParseSnapshotAs(
        format_, content, source_, registry.clock().Now(),
        [&registry](std::string_view name) { return registry.Find(name) != nullptr; }, &warnings);
    for (const std::string& w : warnings) registry.Log(LogLevel::kWarning, w);
    if (!parsed.ok()) {
      return Fail(std::string(parsed.status().message().data(), parsed.status().message().size()));
    }
    pending_content_ = std::move(content);
    return PollResult::Fresh(source_, *std::move(parsed), path_);
  }

  const std::string path_;
  const std::string source_;  // "file <path>"
  const SnapshotFormat format_;
  Signature seen_;
  bool seen_valid_ = false;
  std::string applied_content_;
  std::string pending_content_;
  bool applied_ = false;
  std::string last_error_;  // why the file as it stands is not applied
};

}  // namespace

std::unique_ptr<SourceRunner> StartFileSource(Registry& registry, std::string path,
                                              absl::Duration poll_interval,
                                              MonotonicClock* clock, SnapshotFormat format) {
  SourceRunner::Config rc;
  rc.name = "file";
  rc.target = path;
  rc.source = "file " + path;
  rc.layer = Layer::kFile;
  rc.interval = poll_interval;
  rc.interval_jitter = 0;
  // A failed check is retried at the same pace: a stat is cheap, and a
  // fixed file should show as quickly as a changed one.
  rc.backoff_base = poll_interval;
  rc.backoff_cap = poll_interval;
  rc.backoff_jitter = 0;
  rc.startup_budget = kCheckBudget;
  rc.stale_after = 5 * poll_interval + kCheckBudget;
  rc.clock = clock;
  return std::make_unique<SourceRunner>(registry, std::move(rc),
                                        std::make_unique<FilePoll>(std::move(path), format));
}

}  // namespace degrade::internal
