// degradectl's human output (see ctl_render.h).
#include "ctl_render.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "ctl_json.h"

namespace degrade::ctl {
namespace {

using nlohmann::json;

// An integer field as written, or "-" (Field: ctl_json.h).
std::string Count(const json& j, const char* key) {
  const json* f = Field(j, key);
  if (f == nullptr || !f->is_number_integer()) return "-";
  return f->dump();
}

// Replaces C0/C1 control characters and DEL so that text from the service
// cannot move the cursor or break the table.
std::string Clean(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      out.push_back(' ');
    } else if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(s[i + 1]) <= 0x9f) {
      out.push_back(' ');  // U+0080..U+009F
      ++i;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

// Display width, counting code points (good enough for names and reasons).
size_t Width(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; }));
}

std::string Truncate(std::string s, size_t max_width) {
  if (Width(s) <= max_width) return s;
  size_t points = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xc0) != 0x80 && ++points == max_width - 2) {
      // Cut before the next code point starts.
      size_t end = i + 1;
      while (end < s.size() && (static_cast<unsigned char>(s[end]) & 0xc0) == 0x80) ++end;
      return s.substr(0, end) + "..";
    }
  }
  return s;
}

// The reason and actor of the deciding entry. The default layer is the
// code's declaration: the library fills in placeholders ("default", "code")
// that would only clutter the table.
std::string Reason(const json& sw) {
  return Str(sw, "layer") == "default" ? std::string() : Clean(Str(sw, "reason"));
}
std::string Actor(const json& sw) {
  return Str(sw, "layer") == "default" ? std::string() : Clean(Str(sw, "actor"));
}

std::string Percent(double fraction) { return absl::StrFormat("%.4g%%", fraction * 100.0); }

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

// "error", "delay 800ms", "error at 50%".
std::string FaultText(const json& fault) {
  std::string out = OrDash(Clean(Str(fault, "kind")));
  if (auto ms = Num(fault, "delay_ms"); ms && *ms > 0) absl::StrAppend(&out, " ", *ms, "ms");
  if (auto rate = Num(fault, "rate"); rate && *rate != 1.0) {
    absl::StrAppend(&out, " at ", Percent(*rate));
  }
  return out;
}

// One layer's value, as a snapshot holds it: "off", or
// "on 25%, reason "x", by ana, expires in 9m".
std::string DescribeValue(const json& v, absl::Time now) {
  if (v.is_string()) return Clean(v.get<std::string>());
  if (!v.is_object()) return Clean(v.dump());
  std::vector<std::string> parts;
  const std::string state = Str(v, "state");
  const std::optional<double> allow = Num(v, "allow");
  if (!state.empty() || allow) {
    std::string s = state.empty() ? "on" : Clean(state);
    if (allow && *allow != 1.0) absl::StrAppend(&s, " ", Percent(*allow));
    parts.push_back(std::move(s));
  }
  if (const json* f = Field(v, "fault")) {
    parts.push_back(f->is_object() ? "fault " + FaultText(*f) : "fault off");
  }
  if (std::string r = Str(v, "reason"); !r.empty()) {
    parts.push_back(absl::StrCat("reason \"", Clean(r), "\""));
  }
  if (std::string a = Str(v, "actor"); !a.empty()) parts.push_back("by " + Clean(a));
  if (std::string e = Str(v, "expires_at"); !e.empty()) {
    parts.push_back("expires " + RelativeExpiry(e, now));
  }
  return parts.empty() ? "{}" : absl::StrJoin(parts, ", ");
}

// The expiry of the entry in `layer` that sets the fault, if any.
std::string FaultExpiry(const json& sw, const std::string& layer) {
  const json* layers = Field(sw, "layers");
  if (layers == nullptr || !layers->is_array()) return "";
  for (const json& entry : *layers) {
    if (Str(entry, "layer") != layer) continue;
    const json* value = Field(entry, "value");
    if (value != nullptr && Field(*value, "fault") != nullptr) return Str(*value, "expires_at");
  }
  return "";
}

// Rows padded to column widths; `right` marks right-aligned columns.
std::string Table(const std::vector<std::vector<std::string>>& rows,
                  const std::vector<bool>& right) {
  std::vector<size_t> widths(right.size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], Width(row[c]));
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      const std::string pad(widths[c] - Width(row[c]), ' ');
      if (c > 0) line += "  ";
      line += right[c] ? pad + row[c] : row[c] + (c + 1 < row.size() ? pad : "");
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

// ------------------------------------------------------------------ etcd
// Listings from the etcd backend (ctl_backend.h, EtcdOptions): what etcd
// holds under the prefix, not an instance's state.

bool IsEtcdListing(const json& j) {
  const json* e = Field(j, "etcd");
  return e != nullptr && e->is_object();
}
bool IsEtcdEntry(const json& j) {
  const json* k = Field(j, "key");
  return k != nullptr && k->is_string();
}

std::string EtcdWhere(const json& j) {
  const json* e = Field(j, "etcd");
  if (e == nullptr) return "etcd";
  std::vector<std::string> endpoints;
  if (const json* eps = Field(*e, "endpoints"); eps != nullptr && eps->is_array()) {
    for (const json& ep : *eps) {
      if (ep.is_string()) endpoints.push_back(Clean(ep.get<std::string>()));
    }
  }
  return absl::StrCat("etcd ", absl::StrJoin(endpoints, ","), " prefix ",
                      Clean(Str(*e, "prefix")), " (revision ", Count(*e, "revision"), ")");
}

// The value column: the value as instances read it, or INVALID.
std::string EtcdValueText(const json& entry) {
  const json* v = Field(entry, "value");
  if (!Str(entry, "error").empty()) return "INVALID";
  if (v == nullptr || v->is_null()) return "(no key)";
  return ValueLabel(*v);
}

std::string EtcdRelativeKey(const json& entry, const json& listing) {
  const std::string key = Str(entry, "key");
  const json* e = Field(listing, "etcd");
  const std::string prefix = e != nullptr ? Str(*e, "prefix") : "";
  return Clean(key.compare(0, prefix.size(), prefix) == 0 ? key.substr(prefix.size()) : key);
}

std::string RenderEtcdList(const json& listing, absl::Time now) {
  std::string out = EtcdWhere(listing) + "\n";
  std::vector<std::vector<std::string>> rows = {
      {"KEY", "VALUE", "REASON", "ACTOR", "EXPIRES", "REVISION"}};
  auto add = [&](const json& entry) {
    const std::string expires = Str(entry, "expires_at");
    rows.push_back({EtcdRelativeKey(entry, listing), EtcdValueText(entry),
                    OrDash(Truncate(Clean(Str(entry, "reason")), 40)),
                    OrDash(Truncate(Clean(Str(entry, "actor")), 20)),
                    expires.empty() ? "-" : RelativeExpiry(expires, now),
                    Count(entry, "mod_revision")});
  };
  if (const json* all = Field(listing, "all"); all != nullptr && all->is_object()) add(*all);
  for (const char* section : {"groups", "switches"}) {
    if (const json* list = Field(listing, section); list != nullptr && list->is_array()) {
      for (const json& entry : *list) add(entry);
    }
  }
  out += Table(rows, {false, false, false, false, false, true});
  if (rows.size() == 1) out += "(no keys: every instance decides from its other layers)\n";
  if (const json* errors = Field(listing, "errors"); errors != nullptr && errors->is_array()) {
    for (const json& e : *errors) {
      if (e.is_string()) absl::StrAppend(&out, "error: ", Clean(e.get<std::string>()), "\n");
    }
  }
  absl::StrAppend(&out, "note: ", Clean(Str(listing, "note")), "\n");
  return out;
}

std::string RenderEtcdEntry(const json& entry, absl::Time now) {
  std::vector<std::vector<std::string>> rows;
  auto add = [&](std::string label, std::string value) {
    rows.push_back({"  " + std::move(label), std::move(value)});
  };
  add("key", Clean(Str(entry, "key")));
  const json* value = Field(entry, "value");
  if (!Str(entry, "error").empty()) {
    add("value", "INVALID: " + Clean(Str(entry, "error")));
    add("raw", Truncate(Clean(Str(entry, "raw")), 200));
  } else if (value == nullptr || value->is_null()) {
    add("value", "(no key: instances decide from their other layers, groups/ and all)");
  } else {
    add("value", DescribeValue(*value, now));
    add("stored", Truncate(Clean(value->dump()), 200));
    add("revision", Count(entry, "mod_revision"));
  }
  std::string out = absl::StrCat(Clean(Str(entry, "name")), "\n", Table(rows, {false, false}));
  absl::StrAppend(&out, "  in ", EtcdWhere(entry), "\n");
  if (std::string note = Str(entry, "note"); !note.empty()) {
    absl::StrAppend(&out, "note: ", Clean(note), "\n");
  }
  return out;
}

// After a put: "recs: off (etcd .../switches/recs rev 55, reason "x",
// expires in 15m)". After a delete: "recs: key deleted (etcd ... rev 56)".
std::string RenderEtcdWrite(const json& entry, absl::Time now) {
  const std::string name = Clean(Str(entry, "name"));
  const std::string key = Clean(Str(entry, "key"));
  const json* e = Field(entry, "etcd");
  const std::string rev = e != nullptr ? Count(*e, "revision") : "-";
  if (const json* deleted = Field(entry, "deleted")) {
    const bool any = deleted->is_number_integer() && deleted->get<int64_t>() > 0;
    return absl::StrCat(name, any ? ": key deleted" : ": no key to delete", " (etcd ", key,
                        any ? absl::StrCat(" rev ", rev) : std::string(),
                        "); instances decide it from their other layers\n");
  }
  std::string out = absl::StrCat(name, ": ", EtcdValueText(entry), " (etcd ", key, " rev ", rev);
  if (std::string r = Clean(Str(entry, "reason")); !r.empty()) {
    absl::StrAppend(&out, ", reason \"", r, "\"");
  }
  if (std::string x = Str(entry, "expires_at"); !x.empty()) {
    absl::StrAppend(&out, ", expires ", RelativeExpiry(x, now));
  }
  return out + ")\n";
}

}  // namespace

std::string RelativeExpiry(const std::string& rfc3339, absl::Time now) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) return Clean(rfc3339);
  const int64_t s = absl::ToInt64Seconds(absl::Ceil(t - now, absl::Seconds(1)));
  if (s <= 0) return "expired";
  if (s < 60) return absl::StrCat("in ", s, "s");
  // Round once, to the unit shown, and only then split it: a TTL of one
  // hour read a moment later (3,599 s) is "in 1h", not "in 60m" or "in 59m".
  constexpr int64_t kMinutesPerDay = int64_t{24} * 60;
  const int64_t minutes = (s + 30) / 60;
  if (minutes < 60) return absl::StrCat("in ", minutes, "m");
  if (minutes < kMinutesPerDay) {
    const int64_t h = minutes / 60, m = minutes % 60;
    return m == 0 ? absl::StrCat("in ", h, "h") : absl::StrFormat("in %dh%02dm", h, m);
  }
  const int64_t hours = (s + 1800) / 3600;
  const int64_t d = hours / 24, h = hours % 24;
  return h == 0 ? absl::StrCat("in ", d, "d") : absl::StrCat("in ", d, "d", h, "h");
}

std::string StateLabel(const json& sw) {
  std::string out = OrDash(Clean(Str(sw, "state")));
  if (out == "on") {
    if (auto allow = Num(sw, "allow"); allow && *allow != 1.0) {
      absl::StrAppend(&out, " ", Percent(*allow));
    }
  }
  if (const json* f = Field(sw, "fault"); f != nullptr && f->is_object()) out += " +fault";
  return out;
}

namespace {

// One line per layer that sheds: "shed: admin at tier ≥ 3 by bob: INC-7
// (expires in 30m)".
std::string ShedLines(const json& listing, absl::Time now) {
  std::string out;
  const json* sheds = Field(listing, "shed");
  if (sheds == nullptr || !sheds->is_array()) return out;
  for (const json& s : *sheds) {
    absl::StrAppend(&out, "shed: ", Clean(Str(s, "layer")), " at tier \u2265 ", Count(s, "level"));
    if (std::string a = Clean(Str(s, "actor")); !a.empty()) absl::StrAppend(&out, " by ", a);
    if (std::string r = Clean(Str(s, "reason")); !r.empty()) absl::StrAppend(&out, ": ", r);
    if (std::string x = Str(s, "expires_at"); !x.empty()) {
      absl::StrAppend(&out, " (expires ", RelativeExpiry(x, now), ")");
    }
    out += "\n";
  }
  return out;
}

}  // namespace

std::string GovernorLine(const json& g) {
  if (!g.is_object()) return "";
  auto num = [&](const char* k) {
    const json* v = Field(g, k);
    return v != nullptr && v->is_number() ? v->get<double>() : 0.0;
  };
  auto flag = [&](const char* k, bool dflt) {
    const json* v = Field(g, k);
    return v != nullptr && v->is_boolean() ? v->get<bool>() : dflt;
  };
  std::string by;
  if (const json* s = Field(g, "setting"); s != nullptr && s->is_object()) {
    const std::string a = Clean(Str(*s, "actor"));
    by = absl::StrCat(" (", Clean(Str(*s, "layer")), a.empty() ? "" : absl::StrCat(" by ", a));
    if (std::string r = Clean(Str(*s, "reason")); !r.empty()) absl::StrAppend(&by, ": ", r);
    by += ")";
  }
  if (!flag("configured", false)) {
    return absl::StrCat("governor: not configured (DEGRADE_GOVERNOR_TARGET_MS unset)",
                        flag("enabled", true) ? "" : "; off", by, "\n");
  }
  if (!flag("enabled", true)) return absl::StrCat("governor: off", by, "\n");
  std::string out = absl::StrCat("governor: p", absl::StrFormat("%g", num("percentile") * 100));
  if (const json* m = Field(g, "measured_ms"); m != nullptr && m->is_number()) {
    absl::StrAppend(&out, absl::StrFormat(" %.0f ms", m->get<double>()));
  } else {
    absl::StrAppend(&out, " -");
  }
  absl::StrAppend(&out, absl::StrFormat(", target %.0f ms, serving %.0f%% of tiered work",
                                        num("target_ms"), num("served") * 100));
  const int tier = static_cast<int>(num("tier"));
  const int off = static_cast<int>(num("tiers_off"));
  if (tier != 0 && num("tier_allow") > 0) {
    absl::StrAppend(&out, " (tier ", tier, absl::StrFormat(" at %.0f%%", num("tier_allow") * 100));
    if (off > 0) absl::StrAppend(&out, ", ", off, off == 1 ? " tier off" : " tiers off");
    out += ")";
  } else if (tier != 0) {
    absl::StrAppend(&out, " (", off, off == 1 ? " tier off" : " tiers off", ", down to tier ",
                    tier, ")");
  }
  if (const int cap = static_cast<int>(num("cap")); cap > 1) {
    absl::StrAppend(&out, "; capped at tier ", cap);
  }
  return absl::StrCat(out, by, "\n");
}

std::string RenderGovernorResult(const json& reply, absl::Time /*now*/) {
  if (Field(reply, "key") != nullptr) {  // etcd
    const std::string key = Clean(Str(reply, "key"));
    const json* e = Field(reply, "etcd");
    const std::string rev = e != nullptr ? Count(*e, "revision") : "-";
    if (const json* deleted = Field(reply, "deleted")) {
      const bool any = deleted->is_number_integer() && deleted->get<int64_t>() > 0;
      return absl::StrCat(any ? "governor key deleted" : "no governor key to delete", " (etcd ",
                          key, any ? absl::StrCat(" rev ", rev) : std::string(), ")\n");
    }
    const json* value = Field(reply, "value");
    return absl::StrCat("governor: ", value != nullptr ? Clean(value->dump()) : "?", " (etcd ",
                        key, " rev ", rev, ")\n");
  }
  std::string out;
  if (const json* cleared = Field(reply, "cleared"); cleared != nullptr) {
    out = Clean(Str(reply, "message")) + "\n";
  }
  if (const json* g = Field(reply, "governor")) out += GovernorLine(*g);
  return out;
}

std::string RenderShedResult(const json& reply, absl::Time now) {
  if (Field(reply, "key") != nullptr) {  // etcd
    const std::string key = Clean(Str(reply, "key"));
    const json* e = Field(reply, "etcd");
    const std::string rev = e != nullptr ? Count(*e, "revision") : "-";
    if (const json* deleted = Field(reply, "deleted")) {
      const bool any = deleted->is_number_integer() && deleted->get<int64_t>() > 0;
      return absl::StrCat(any ? "shed key deleted" : "no shed key to delete", " (etcd ", key,
                          any ? absl::StrCat(" rev ", rev) : std::string(),
                          "); instances shed by their other layers only\n");
    }
    const json* value = Field(reply, "value");
    return absl::StrCat("shed: ", value != nullptr ? Clean(value->dump()) : "?", " (etcd ", key,
                        " rev ", rev, ")\n");
  }
  std::string out;
  if (const json* cleared = Field(reply, "cleared"); cleared != nullptr) {
    out = Clean(Str(reply, "message")) + "\n";
  }
  std::string lines = ShedLines(reply, now);
  out += lines.empty() ? "no layer sheds now\n" : lines;
  if (const json* names = Field(reply, "switches"); names != nullptr && names->is_array()) {
    std::vector<std::string> shed;
    for (const json& n : *names) {
      if (n.is_string()) shed.push_back(Clean(n.get<std::string>()));
    }
    absl::StrAppend(&out, "switches shed by the admin layer: ",
                    shed.empty() ? std::string("none") : absl::StrJoin(shed, ", "), "\n");
  }
  return out;
}

std::string RenderList(const json& listing, absl::Time now) {
  if (IsEtcdListing(listing)) return RenderEtcdList(listing, now);
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "STATE", "LAYER", "REASON", "ACTOR", "EXPIRES", "CALLS", "FALLBACKS"}};
  bool any_unknown = false;
  const json* switches = Field(listing, "switches");
  if (switches != nullptr && switches->is_array()) {
    for (const json& sw : *switches) {
      std::string name = Clean(Str(sw, "name"));
      if (const json* d = Field(sw, "defined"); d != nullptr && d->is_boolean() && !*d) {
        name += "*";
        any_unknown = true;
      }
      const std::string expires = Str(sw, "expires_at");
      const json* counters = Field(sw, "counters");
      rows.push_back({name, StateLabel(sw), OrDash(Clean(Str(sw, "layer"))),
                      OrDash(Truncate(Reason(sw), 40)), OrDash(Truncate(Actor(sw), 20)),
                      expires.empty() ? "-" : RelativeExpiry(expires, now),
                      counters ? Count(*counters, "calls") : "-",
                      counters ? Count(*counters, "fallbacks") : "-"});
    }
  }
  std::string out = ShedLines(listing, now);
  // The governor's line only where one is configured or an operator said
  // something about it (a service without one prints as before).
  if (const json* g = Field(listing, "governor");
      g != nullptr && g->is_object() &&
      ((g->contains("configured") && (*g)["configured"] == true) ||
       (g->contains("setting") && (*g)["setting"].is_object()))) {
    out += GovernorLine(*g);
  }
  out += Table(rows, {false, false, false, false, false, false, true, true});
  if (rows.size() == 1) out += "(no switches)\n";
  if (any_unknown) out += "* named by a layer, not defined in this service\n";

  const json* sources = Field(listing, "sources");
  if (sources != nullptr && sources->is_array() && !sources->empty()) {
    std::vector<std::vector<std::string>> srows;
    for (const json& s : *sources) {
      const json* healthy = Field(s, "healthy");
      const bool ok = healthy == nullptr || !healthy->is_boolean() || healthy->get<bool>();
      std::string health =
          ok ? absl::StrCat("healthy, ", Count(s, "applied"), " applied")
             : absl::StrCat("FAILING (", Count(s, "consecutive_failures"),
                            " in a row): ", Truncate(Clean(Str(s, "last_error")), 100));
      srows.push_back(
          {"  " + Clean(Str(s, "name")), Truncate(Clean(Str(s, "target")), 60), std::move(health)});
    }
    out += "sources:\n" + Table(srows, {false, false, false});
  }
  const json* errors = Field(listing, "errors");
  if (errors != nullptr && errors->is_array() && !errors->empty()) {
    absl::StrAppend(&out, errors->size(),
                    " recent error(s) in the service; 'degradectl list --json' shows them\n");
  }
  return out;
}

json InventoryFromListing(const json& listing) {
  json out = json::array();
  const json* switches = Field(listing, "switches");
  if (switches != nullptr && switches->is_array()) {
    for (const json& sw : *switches) {
      if (const json* d = Field(sw, "defined"); d != nullptr && d->is_boolean() && !*d) continue;
      json groups = json::array();
      if (const json* g = Field(sw, "groups"); g != nullptr && g->is_array()) {
        for (const json& x : *g) {
          if (x.is_string()) groups.push_back(x);
        }
      }
      const json* breaker = Field(sw, "breaker");
      out.push_back({{"name", Str(sw, "name")},
                     {"description", Str(sw, "description")},
                     {"owner", Str(sw, "owner")},
                     {"groups", groups},
                     {"env_var", Str(sw, "env_var")},
                     {"breaker", breaker != nullptr && breaker->is_object()}});
    }
  }
  std::sort(out.begin(), out.end(), [](const json& a, const json& b) {
    return a["name"].get<std::string>() < b["name"].get<std::string>();
  });
  return {{"switches", out}};
}

std::string RenderInventory(const json& listing) {
  const json inventory = InventoryFromListing(listing);
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "OWNER", "GROUPS", "BREAKER", "ENV VAR", "DESCRIPTION"}};
  std::vector<std::string> no_owner, no_description;
  for (const json& e : inventory["switches"]) {
    std::vector<std::string> groups;
    for (const json& g : e["groups"]) groups.push_back(Clean(g.get<std::string>()));
    const std::string name = Clean(e["name"].get<std::string>());
    const std::string owner = Clean(e["owner"].get<std::string>());
    const std::string description = Clean(e["description"].get<std::string>());
    if (owner.empty()) no_owner.push_back(name);
    if (description.empty()) no_description.push_back(name);
    rows.push_back({name, OrDash(owner), groups.empty() ? "-" : absl::StrJoin(groups, ","),
                    e["breaker"].get<bool>() ? "yes" : "no",
                    OrDash(Clean(e["env_var"].get<std::string>())),
                    OrDash(Truncate(description, 100))});
  }
  std::string out = Table(rows, {false, false, false, false, false, false});
  if (rows.size() == 1) out += "(no switches)\n";
  absl::StrAppend(&out, rows.size() - 1, " switch(es)");
  if (!no_owner.empty()) absl::StrAppend(&out, "; without an owner: ", absl::StrJoin(no_owner, ", "));
  if (!no_description.empty()) {
    absl::StrAppend(&out, "; without a description: ", absl::StrJoin(no_description, ", "));
  }
  return out + "\n";
}

std::string RenderSwitch(const json& sw, absl::Time now) {
  if (IsEtcdEntry(sw)) return RenderEtcdEntry(sw, now);
  std::vector<std::vector<std::string>> rows;
  auto add = [&](std::string label, std::string value) {
    rows.push_back({"  " + std::move(label), std::move(value)});
  };
  add("description", OrDash(Clean(Str(sw, "description"))));
  add("owner", OrDash(Clean(Str(sw, "owner"))));
  std::vector<std::string> groups;
  if (const json* g = Field(sw, "groups"); g != nullptr && g->is_array()) {
    for (const json& x : *g) {
      if (x.is_string()) groups.push_back(Clean(x.get<std::string>()));
    }
  }
  add("groups", groups.empty() ? "-" : absl::StrJoin(groups, ", "));
  add("env var", OrDash(Clean(Str(sw, "env_var"))));
  if (const json* d = Field(sw, "defined"); d != nullptr && d->is_boolean() && !*d) {
    add("defined", "no: a layer names it, this service does not define it");
  }
  add("state", StateLabel(sw));
  add("decided by", OrDash(Clean(Str(sw, "layer"))));
  add("reason", OrDash(Reason(sw)));
  add("actor", OrDash(Actor(sw)));
  const std::string expires = Str(sw, "expires_at");
  add("expires", expires.empty()
                     ? "never"
                     : absl::StrCat(Clean(expires), " (", RelativeExpiry(expires, now), ")"));
  const json* fault = Field(sw, "fault");
  const std::string fault_layer = Str(sw, "fault_layer");
  if (fault != nullptr && fault->is_object()) {
    add("fault", absl::StrCat(FaultText(*fault), " (", OrDash(Clean(fault_layer)), ")"));
  } else {
    add("fault", fault_layer.empty() ? "none" : absl::StrCat("none (", Clean(fault_layer), ")"));
  }
  if (const json* b = Field(sw, "breaker"); b != nullptr && b->is_object()) {
    std::string text = OrDash(Clean(Str(*b, "state")));
    if (const json* w = Field(*b, "window"); w != nullptr && w->is_object()) {
      absl::StrAppend(&text, ", window ", Count(*w, "calls"), " calls");
      if (auto ratio = Num(*w, "failure_ratio")) {
        absl::StrAppend(&text, " ", Percent(*ratio), " failed");
      }
    }
    if (std::string next = Str(*b, "next_probe_at"); !next.empty()) {
      absl::StrAppend(&text, ", probes ", RelativeExpiry(next, now));
    }
    if (std::string why = Str(*b, "last_reason"); !why.empty()) {
      absl::StrAppend(&text, "; last change: ", Clean(why));
    }
    add("breaker", std::move(text));
  }
  std::string out = Clean(Str(sw, "name")) + "\n" + Table(rows, {false, false});

  std::vector<std::vector<std::string>> lrows;
  if (const json* layers = Field(sw, "layers"); layers != nullptr && layers->is_array()) {
    for (const json& l : *layers) {
      const json* v = Field(l, "value");
      json value = v != nullptr ? *v : json();
      if (Str(l, "layer") == "default" && value.is_object()) {
        value.erase("reason");  // placeholders, see Reason()
        value.erase("actor");
      }
      lrows.push_back({"    " + Clean(Str(l, "layer")), Clean(Str(l, "scope")),
                       v ? DescribeValue(value, now) : "-"});
    }
  }
  out += "  layers (lowest first)\n";
  out += lrows.empty() ? "    (none)\n" : Table(lrows, {false, false, false});

  if (const json* c = Field(sw, "counters"); c != nullptr && c->is_object()) {
    absl::StrAppend(&out, "  counters     calls ", Count(*c, "calls"), ", primary ok ",
                    Count(*c, "primary_ok"), ", skipped ", Count(*c, "skipped"),
                    ", primary failures ", Count(*c, "primary_failures"), ", injected faults ",
                    Count(*c, "injected_faults"), ", fallbacks ", Count(*c, "fallbacks"), "\n");
  }
  return out;
}

std::string RenderWriteResult(const json& sw, absl::Time now) {
  if (IsEtcdEntry(sw)) return RenderEtcdWrite(sw, now);
  std::string out = absl::StrCat(Clean(Str(sw, "name")), ": ", StateLabel(sw), " (",
                                 OrDash(Clean(Str(sw, "layer"))));
  if (std::string r = Reason(sw); !r.empty()) {
    absl::StrAppend(&out, ", reason \"", r, "\"");
  }
  if (std::string e = Str(sw, "expires_at"); !e.empty()) {
    absl::StrAppend(&out, ", expires ", RelativeExpiry(e, now));
  }
  out += ")";
  const std::string fault_layer = Str(sw, "fault_layer");
  if (!fault_layer.empty()) {
    const json* fault = Field(sw, "fault");
    absl::StrAppend(&out, "; fault ",
                    fault != nullptr && fault->is_object() ? FaultText(*fault) : "off", " (",
                    Clean(fault_layer));
    if (std::string e = FaultExpiry(sw, fault_layer); !e.empty()) {
      absl::StrAppend(&out, ", expires ", RelativeExpiry(e, now));
    }
    out += ")";
  }
  return out + "\n";
}

std::string ValueLabel(const json& value) {
  if (value.is_null()) return "(none)";
  if (value.is_string()) return Clean(value.get<std::string>());
  if (!value.is_object()) return Clean(value.dump());
  std::string out;
  const std::string state = Str(value, "state");
  const std::optional<double> allow = Num(value, "allow");
  if (!state.empty() || allow) {
    out = state.empty() ? "on" : Clean(state);
    if (out == "on" && allow && *allow != 1.0) absl::StrAppend(&out, " ", Percent(*allow));
  }
  if (const json* f = Field(value, "fault")) {
    const std::string fault = f->is_object() ? "fault " + FaultText(*f) : "fault off";
    out = out.empty() ? fault : absl::StrCat(out, " +", fault);
  }
  return out.empty() ? "{}" : out;
}

std::string RenderWatchEvent(const WatchEvent& event, absl::Time now) {
  std::string what;
  if (event.scope == "all") {
    what = "all";
  } else if (event.scope == "group") {
    what = "group " + Clean(event.name);
  } else {
    what = Clean(event.name);
  }
  std::string out =
      absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", event.time, absl::UTCTimeZone()), "  ",
                   what, ": ", ValueLabel(event.old_value), " -> ", ValueLabel(event.new_value));
  std::vector<std::string> details;
  std::string layer = Clean(event.layer);
  if (!event.old_layer.empty() && event.old_layer != event.layer && !event.layer.empty()) {
    layer = absl::StrCat(Clean(event.old_layer), " -> ", layer);
  }
  if (event.revision > 0) absl::StrAppend(&layer, " rev ", event.revision);
  if (!layer.empty()) details.push_back(std::move(layer));
  if (!event.fault_layer.empty()) details.push_back("fault from " + Clean(event.fault_layer));
  if (!event.actor.empty()) details.push_back("by " + Clean(event.actor));
  if (!event.reason.empty()) details.push_back(absl::StrCat("reason \"", Clean(event.reason), "\""));
  if (!event.expires_at.empty()) {
    details.push_back("expires " + RelativeExpiry(event.expires_at, now));
  }
  if (!details.empty()) absl::StrAppend(&out, " (", absl::StrJoin(details, ", "), ")");
  return out;
}

std::string WatchEventJson(const WatchEvent& event) {
  json j = {
      {"time", absl::FormatTime(absl::RFC3339_full, event.time, absl::UTCTimeZone())},
      {"event", "change"},
  };
  if (event.scope == "group") {
    j["group"] = event.name;
  } else if (event.scope == "all") {
    j["all"] = true;
  } else {
    j["switch"] = event.name;
  }
  j["old"] = event.old_value;
  j["new"] = event.new_value;
  j["old_layer"] = event.old_layer;
  j["layer"] = event.layer;
  j["fault_layer"] = event.fault_layer.empty() ? json() : json(event.fault_layer);
  j["actor"] = event.actor;
  j["reason"] = event.reason;
  j["expires_at"] = event.expires_at.empty() ? json() : json(event.expires_at);
  if (!event.key.empty()) j["key"] = event.key;
  if (event.revision > 0) j["revision"] = event.revision;
  // Replace invalid UTF-8 rather than throw: reasons come from operators.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace degrade::ctl
