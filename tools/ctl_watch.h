// degradectl watch over the admin endpoint: its change stream (GET
// /degrade/v1/events) when the service has one, else the listing read every
// interval and its differences reported.
#ifndef DEGRADE_TOOLS_CTL_WATCH_H_
#define DEGRADE_TOOLS_CTL_WATCH_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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

// One event of the admin endpoint's change stream (GET /degrade/v1/events,
// docs/audit.md) as a WatchEvent: every field as the service's change line
// has it, so that WatchEventJson prints that line again. Fields of the
// wrong type read as absent.
WatchEvent StreamEventToWatchEvent(const nlohmann::json& event);

// One request of the change stream: `after` (nullopt: from now) and how
// long the service may wait for an event. Returns the answer's JSON, or an
// error; NotFound from the first request means the service has no stream.
using EventsFetch =
    std::function<absl::StatusOr<nlohmann::json>(std::optional<uint64_t> after)>;

// Backend::Watch over the change stream: reports each event through `sink`
// with the actor and reason the service recorded, until `stop`. Gaps (the
// service's ring overflowed, or it restarted) are notices naming how many
// events were missed. A failed request is one notice ("lost contact ...")
// and another when the stream answers again, retried every `retry`.
// Sets *no_stream (and returns OK at once) when the first request is
// NotFound: the caller then falls back to PollWatch.
absl::Status StreamWatch(const EventsFetch& fetch, const std::string& where, absl::Duration retry,
                         WatchStop& stop, const WatchSink& sink, bool* no_stream);

}  // namespace degrade::ctl

#endif  // DEGRADE_TOOLS_CTL_WATCH_H_
