// The file layer's source: watches one snapshot file. Not installed.
//
// A PollStrategy (sources/source_runner.h): the runner owns the thread,
// start-up, health and applying. Each poll stats the file; a changed file is
// read once its signature holds still for a short pause, parsed as a whole
// snapshot, and applied to the file layer (all or nothing). Every check that
// succeeds -- changed or not -- confirms the view, so health's last_success
// moves on each poll of a healthy idle file. A missing, unreadable,
// oversize or invalid file changes nothing and is reported (health "file",
// logged once per distinct problem) until it is fixed.
#ifndef DEGRADE_LIB_FILE_SOURCE_H_
#define DEGRADE_LIB_FILE_SOURCE_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "core/flagd.h"
#include "degrade/registry.h"
#include "sources/source_runner.h"

namespace degrade::internal {

// Files larger than this are rejected (a snapshot is small; a huge file is
// a mistake, not a config).
inline constexpr size_t kMaxSnapshotFileBytes = 16 << 20;

// Starts watching `path`: the first check runs before this returns (the
// layer is in place when Runtime::Start returns), then one every
// `poll_interval` until the runner is destroyed. `clock`: the runner's
// monotonic clock; nullptr: the real one. `format`: how the file is read
// (core/flagd.h; kAuto: flagd when it is unambiguously a flagd file).
std::unique_ptr<SourceRunner> StartFileSource(Registry& registry, std::string path,
                                              absl::Duration poll_interval,
                                              MonotonicClock* clock = nullptr,
                                              SnapshotFormat format = SnapshotFormat::kAuto);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_FILE_SOURCE_H_
