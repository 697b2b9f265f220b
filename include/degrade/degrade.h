// degrade/degrade.h: all of degrade's public API.
//
// degrade wraps calls to non-essential dependencies behind named switches that
// operators can turn off (env, file, remote, admin endpoint), that trip by
// themselves when a dependency fails, and that can inject faults for drills.
// Each header below is one concept; include just the one you need if you
// prefer (the hot path, degrade/switch.h, includes almost nothing).
#ifndef DEGRADE_DEGRADE_H_
#define DEGRADE_DEGRADE_H_

#include "degrade/breaker.h"   // IWYU pragma: export
#include "degrade/call.h"      // IWYU pragma: export
#include "degrade/clock.h"     // IWYU pragma: export
#include "degrade/env.h"       // IWYU pragma: export
#include "degrade/governor.h"  // IWYU pragma: export
#include "degrade/inventory.h"  // IWYU pragma: export
#include "degrade/listing.h"   // IWYU pragma: export
#include "degrade/log.h"       // IWYU pragma: export
#include "degrade/registry.h"  // IWYU pragma: export
#include "degrade/runtime.h"   // IWYU pragma: export
#include "degrade/snapshot.h"  // IWYU pragma: export
#include "degrade/state.h"     // IWYU pragma: export
#include "degrade/switch.h"    // IWYU pragma: export

#endif  // DEGRADE_DEGRADE_H_
