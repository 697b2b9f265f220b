// The last-known-good cache of the remote layer: one snapshot in a file.
// Not installed. Used by the source runner (source_runner.h) for every
// remote source (HTTP polling, etcd).
//
// The file holds plain snapshot JSON (degrade/snapshot.h), written by
// SnapshotToJson, so an operator can read it, diff it, or use it as a config
// file. Entries given with ttl_s were turned into an absolute expires_at when
// first parsed, so an entry that has expired by the time the cache is read is
// ignored by the registry like any other expired entry.
//
// Thread safety: both functions may be called from any thread. Writes from
// one process are serialised, so two sources writing the same path cannot
// interleave their temporary files.
#ifndef DEGRADE_LIB_LKG_CACHE_H_
#define DEGRADE_LIB_LKG_CACHE_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"

namespace degrade::internal {

// A cache file larger than this is rejected when read.
inline constexpr size_t kMaxCacheBytes = size_t{16} << 20;

// Writes `snapshot` to `path` atomically and durably: the JSON goes to
// "<path>.tmp.<pid>" in the same directory, which is fsynced, renamed over
// `path`, and the directory is fsynced. Readers see the old file or the new
// one, never a mix, even across a crash.
//
// Errors carry the errno's status code (absl::ErrnoToStatus): NotFound for a
// missing directory, PermissionDenied for an unwritable one, ResourceExhausted
// for a full disk (ENOSPC, EDQUOT, EFBIG), FailedPrecondition when a path
// component is not a directory. Messages start with "cache <path>: " and say
// which step failed. On error the temporary file is removed and `path` keeps
// its previous content (unless only the final directory fsync failed: then
// the new content is in place but may not survive a crash).
absl::Status WriteCache(const std::string& path, const Snapshot& snapshot);

// Reads and parses the cache at `path`; `now` turns any ttl_s left in a
// hand-edited file into expires_at. Errors: NotFound when the file does not
// exist, another errno code when it cannot be read, FailedPrecondition when
// it is not a regular file or is larger than kMaxCacheBytes, InvalidArgument
// when it is not a valid snapshot (the parser's message, naming the JSON path
// or the line and column). Messages start with "cache <path>: ". Warnings
// about unknown fields are appended to `warnings` when not null.
absl::StatusOr<Snapshot> ReadCache(const std::string& path, absl::Time now,
                                   std::vector<std::string>* warnings = nullptr);

// A remote source's use of the cache: applies it at start when the source
// has nothing better, saves each snapshot the source applies, and reports
// the cache's health as "cache" (target: the path). Errors are logged once
// each (kError) until the next success, and never change a switch.
//
// Thread safety: one thread at a time (the runner serialises its calls).
class LkgCacheKeeper {
 public:
  // An empty `path` makes every call a no-op.
  LkgCacheKeeper(Registry& registry, std::string path);

  // Applies the cache to the remote layer as source "cache <path>". `why`
  // says why the source has no snapshot of its own ("no remote URL answered
  // at start"), for the log. A missing cache is a warning (a first start);
  // an unreadable or invalid one an error. True when applied.
  bool ApplyAtStart(std::string_view why);

  // Writes `snapshot`, the remote layer just applied.
  void Save(const Snapshot& snapshot);

 private:
  void Failed(const absl::Status& status);

  Registry& registry_;
  const std::string path_;
  const std::string source_;  // "cache <path>"
  SourceHealth health_;
  std::string last_error_;  // logged already
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_LKG_CACHE_H_
