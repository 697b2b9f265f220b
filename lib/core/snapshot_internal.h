// Snapshot helpers shared by the library's sources. Not installed.
#ifndef DEGRADE_LIB_SNAPSHOT_INTERNAL_H_
#define DEGRADE_LIB_SNAPSHOT_INTERNAL_H_

#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "degrade/state.h"

namespace degrade::internal {

// ValidateSwitchValue, with the value's JSON path made by `path` only when
// there is an error to report: checking a valid value builds no string.
// Messages are exactly ValidateSwitchValue(value, path()).
absl::Status ValidateSwitchValueAt(const SwitchValue& value,
                                   absl::FunctionRef<std::string()> path);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_SNAPSHOT_INTERNAL_H_
