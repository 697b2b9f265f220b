// The file layer's source: watches one snapshot file. Not installed.
#ifndef DEGRADE_LIB_FILE_SOURCE_H_
#define DEGRADE_LIB_FILE_SOURCE_H_

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "degrade/registry.h"

namespace degrade::internal {

class FileSource {
 public:
  // Files larger than this are rejected (a snapshot is small; a huge file is
  // a mistake, not a config).
  static constexpr size_t kMaxFileBytes = 16 << 20;

  FileSource(Registry& registry, std::string path, absl::Duration poll_interval);
  ~FileSource();  // stops and joins

  // Reads and applies the file now if it changed. Called at start (so the
  // layer is in place when Runtime::Start returns) and by the poll thread.
  void PollOnce();

 private:
  struct Signature {
    bool exists = false;
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
    bool operator==(const Signature&) const = default;
  };
  Signature Stat(std::string* error) const;
  void Fail(const std::string& error);
  void Loop();

  Registry& registry_;
  const std::string path_;
  const std::string source_;  // "file <path>"
  const absl::Duration poll_interval_;

  // Only the poll thread (or the constructor, before it starts) touches these.
  Signature seen_;
  bool seen_valid_ = false;
  std::string applied_content_;
  bool applied_ = false;
  std::string last_error_;
  SourceHealth health_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_FILE_SOURCE_H_
