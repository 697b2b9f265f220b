// degrade/log.h: where degrade reports what it does.
//
// degrade never prints on its own from a background thread: everything goes
// through the registry's log sink. The default sink writes warnings and
// errors to stderr, one line each ("degrade: error: ..."), so that a typo in
// an environment variable during an incident is seen; change events are
// written too, as JSON lines, when Registry::SetLogChanges(true) was called
// or DEGRADE_LOG_CHANGES=on was set.
#ifndef DEGRADE_LOG_H_
#define DEGRADE_LOG_H_

#include <functional>
#include <string_view>

#include "degrade/export.h"

namespace degrade {

enum class LogLevel {
  kChange,   // an effective state changed; message is one JSON object
  kInfo,     // a source connected, a file was applied, ...
  kWarning,  // something was ignored: unknown field, unknown switch name, ...
  kError,    // something was rejected: bad env value, bad snapshot, lost source
};

// "change", "info", "warning", "error".
DEGRADE_EXPORT std::string_view LogLevelName(LogLevel level) noexcept;

// Receives every message. Called from whichever thread produced it (the
// caller of Define or ApplySnapshot, or a source's background thread), never
// with a registry lock held. Must be thread-safe and must not throw.
using LogSink = std::function<void(LogLevel level, std::string_view message)>;

// The default sink: warnings, errors and change events to stderr, one line
// each ("degrade: error: ..."; change events as their JSON). Info is dropped.
DEGRADE_EXPORT LogSink StderrLogSink();

}  // namespace degrade

#endif  // DEGRADE_LOG_H_
