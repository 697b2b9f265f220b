// A partial update of one layer: set or remove the entries of some switches,
// some groups, or "all", leaving the rest of the layer as it is. Not
// installed. Used by sources that learn of changes one key at a time (the
// etcd watch), where replacing the whole layer per change would cost the
// size of the layer for every change.
//
// Thread safety: as Registry::ApplySnapshot (any thread).
#ifndef DEGRADE_LIB_CORE_LAYER_DELTA_H_
#define DEGRADE_LIB_CORE_LAYER_DELTA_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "core/cause.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"

namespace degrade::internal {

struct LayerDelta {
  // By name: the new entry, or nullopt to remove the entry (removing an
  // absent one is no change).
  std::map<std::string, std::optional<SwitchValue>> switches;
  std::map<std::string, std::optional<SwitchValue>> groups;
  // When change_all: the new "all" entry, or nullopt to remove it.
  bool change_all = false;
  std::optional<SwitchValue> all;
  // When change_shed: the layer's new shed, or nullopt to remove it.
  bool change_shed = false;
  std::optional<Shed> shed;
  // When change_governor: the layer's new governor setting, or nullopt.
  bool change_governor = false;
  std::optional<GovernorSetting> governor;

  bool empty() const {
    return switches.empty() && groups.empty() && !change_all && !change_shed && !change_governor;
  }
};

// Applies `delta` to `layer`, all or nothing, as ApplySnapshot would apply
// the layer with the delta made to it: same checks, same error messages
// (InvalidArgument naming `source` and the entry: a bad name, a value out of
// range, a breaker-layer entry other than "off", the default or env layer),
// same change events (actor: the entry's actor, else the source's name; see
// SourceCause).
//
// Cost: proportional to the delta and to the switches it affects (a switch
// entry affects its switch; a group entry the switches of that group, found
// by one pass over the defined switches; "all" and a changed shed every
// switch; a governor setting none) -- not to the
// size of the layer. The exception is the first delta after the layer was
// replaced by ApplySnapshot (or by nothing yet): that one copies the layer
// once. A delta that sets an entry with expires_at also re-plans the expiry
// timer (a pass over the layers).
//
// `values`: kParsed when every value came from ParseSwitchValue (which only
// produces valid values, snapshot_parse.cc): they are not checked a second
// time; names and the layer's own rules still are. kBuiltInCode checks all.
enum class DeltaValues { kBuiltInCode, kParsed };
absl::Status ApplyLayerDelta(Registry& registry, Layer layer, LayerDelta delta,
                             std::string_view source,
                             DeltaValues values = DeltaValues::kBuiltInCode);

// As above, with the events' cause given (core/cause.h): the etcd watch
// names the revision it applies. The other forms use SourceCause(source).
absl::Status ApplyLayerDelta(Registry& registry, Layer layer, LayerDelta delta,
                             std::string_view source, DeltaValues values, const Cause& cause);

// Registry::ApplySnapshot for a snapshot that came from ParseSnapshot (a
// file, an HTTP body, the last-known-good cache, etcd values parsed one by
// one): names and values are valid already and are not checked again; the
// layer's own rules are. Same errors and events as ApplySnapshot otherwise.
absl::Status ApplyParsedSnapshot(Registry& registry, Layer layer, Snapshot snapshot,
                                 std::string_view source);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_CORE_LAYER_DELTA_H_
