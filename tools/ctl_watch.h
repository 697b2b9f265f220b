// degradectl watch over a control plane without a change stream (the admin
// endpoint): read the listing every interval and report the differences.
#ifndef DEGRADE_TOOLS_CTL_WATCH_H_
#define DEGRADE_TOOLS_CTL_WATCH_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "ctl_backend.h"
#include "nlohmann/json.hpp"

namespace degrade::ctl {

// The changes from listing `before` to listing `after` (the listing JSON of
// degrade/listing.h), by switch name, each stamped `now`. A switch changes
// when its effective state (state, allow, fault), deciding layer, fault
// layer, reason, actor or expiry differs; counters do not count. A switch
// only in `after` has a null old_value, one only in `before` a null
// new_value. actor and reason are the deciding entry's (none for the
// default layer, whose are placeholders), or, when only the fault changed,
// those of the entry that set the fault. Fields of the wrong type read as
// absent: nothing here throws.
std::vector<WatchEvent> DiffListings(const nlohmann::json& before, const nlohmann::json& after,
                                     absl::Time now);

// The effective state of one listing entry as WatchEvent values hold it:
// {"state": "off"}, {"state": "on", "allow": 0.25}, plus "fault" when set.
nlohmann::json EffectiveStateJson(const nlohmann::json& sw);

// Backend::Watch by polling: List() now (its error is returned as is; on
// success a notice says what is watched and how), then
// every `interval` until `stop`, reporting DiffListings through `sink`. A
// failed List() after the first is one notice ("lost contact ...") and
// another when a listing comes back; changes made in between are reported
// then. `where` names the control plane in notices.
absl::Status PollWatch(Backend& backend, const std::string& where, absl::Duration interval,
                       WatchStop& stop, const WatchSink& sink);

}  // namespace degrade::ctl

#endif  // DEGRADE_TOOLS_CTL_WATCH_H_
