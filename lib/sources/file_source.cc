// File layer: poll stat(2) and re-apply when the file changes.
//
// Polling, not inotify: it sees both an atomic rename over the file and an
// in-place write, survives the directory being replaced (Kubernetes
// ConfigMaps swap a symlink), and costs one stat per interval. A change is
// read only once the signature is stable across a short pause, so a writer
// caught mid-write is not reported as a broken file.
#include "sources/file_source.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace degrade::internal {

FileSource::FileSource(Registry& registry, std::string path, absl::Duration poll_interval)
    : registry_(registry),
      path_(std::move(path)),
      source_(absl::StrCat("file ", path_)),
      poll_interval_(poll_interval) {
  health_.name = "file";
  health_.target = path_;
  health_.healthy = false;
  PollOnce();
  thread_ = std::thread([this] { Loop(); });
}

FileSource::~FileSource() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

FileSource::Signature FileSource::Stat(std::string* error) const {
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

void FileSource::Fail(const std::string& error) {
  health_.healthy = false;
  health_.last_error = error;
  health_.last_error_time = registry_.clock().Now();
  ++health_.consecutive_failures;
  registry_.ReportSourceHealth(health_);
  // Report each distinct problem once, not every poll.
  if (error != last_error_) {
    last_error_ = error;
    registry_.Log(LogLevel::kError,
                  absl::StrCat(error, "; the file layer keeps its last good state"));
  }
}

void FileSource::PollOnce() {
  std::string error;
  Signature sig = Stat(&error);
  if (!sig.exists) {
    seen_valid_ = false;
    Fail(error);
    return;
  }
  if (seen_valid_ && sig == seen_) return;
  // Let a writer finish: read only a signature that holds still briefly.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (Stat(&error) != sig) return;  // still changing; next poll

  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    seen_valid_ = false;
    Fail(absl::StrCat(source_, ": cannot open: ", std::strerror(errno)));
    return;
  }
  if (sig.size > kMaxFileBytes) {
    seen_ = sig;
    seen_valid_ = true;
    Fail(absl::StrCat(source_, ": ", sig.size, " bytes is larger than the limit of ",
                      kMaxFileBytes, " bytes"));
    return;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string content = buf.str();
  seen_ = sig;
  seen_valid_ = true;
  if (applied_ && content == applied_content_) {
    // Touched but unchanged: nothing to apply; the source is fine.
    if (!health_.healthy) {
      health_.healthy = true;
      health_.consecutive_failures = 0;
      last_error_.clear();
      registry_.ReportSourceHealth(health_);
    }
    return;
  }
  absl::Status status = registry_.ApplySnapshotJson(Layer::kFile, content, source_);
  if (!status.ok()) {
    // ApplySnapshotJson logged it; record health without logging twice.
    last_error_ = std::string(status.message());
    Fail(last_error_);
    return;
  }
  applied_content_ = std::move(content);
  applied_ = true;
  last_error_.clear();
  health_.healthy = true;
  health_.consecutive_failures = 0;
  health_.last_success = registry_.clock().Now();
  ++health_.applied;
  registry_.ReportSourceHealth(health_);
  registry_.Log(LogLevel::kInfo, absl::StrCat(source_, ": applied"));
}

void FileSource::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, absl::ToChronoNanoseconds(poll_interval_), [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    PollOnce();
    lock.lock();
  }
}

}  // namespace degrade::internal
