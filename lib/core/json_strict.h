// The one way degrade reads JSON that comes from outside the process:
// snapshot files, HTTP bodies, etcd values and replies, admin request bodies,
// and what degradectl reads back. Not installed.
#ifndef DEGRADE_LIB_CORE_JSON_STRICT_H_
#define DEGRADE_LIB_CORE_JSON_STRICT_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace degrade::internal {

// How deep documents may nest. The snapshot format needs 4 levels and etcd
// replies 3; the margin is for unknown fields. The bound keeps recursive
// code (dump, destructors of nested values) off a deep stack.
inline constexpr int kMaxStrictJsonDepth = 64;

// Why ParseJsonStrict refused a document.
enum class JsonProblem {
  kSyntax,        // not JSON at all, or trailing text after the value
  kTooDeep,       // nested deeper than kMaxStrictJsonDepth
  kDuplicateKey,  // an object names the same key twice
};

// Parses `text` as exactly one JSON value, with exceptions off. Stricter
// than nlohmann::json::parse, which keeps the last of two equal keys: a
// document in which any object names a key twice is refused, since a reader
// that keeps the first value and one that keeps the last would act on
// different documents.
//
// On error: InvalidArgument, and `*problem` (when given) says which kind.
// `path` is where the document sits, as messages name it ("" for a whole
// document, "switches.recs" for an etcd value); messages start with it:
//   invalid JSON: parse error at line 1, column 26: syntax error while ...
//   switches.recs: invalid JSON: nested deeper than 64 levels
//   switches.analytics: duplicate key "state"; each key may appear once
// A duplicate is named by the JSON path of the object that holds it
// (`groups."tier-2".fault`, `kvs[0]`); syntax errors keep nlohmann's line
// and column. Messages are bounded in length and valid UTF-8 whatever the
// input.
//
// Cost: the same as nlohmann::json::parse (one map lookup per key, which
// the plain parse does too); bench/snapshot_benchmark measures it.
absl::StatusOr<nlohmann::json> ParseJsonStrict(std::string_view text, std::string_view path = "",
                                               JsonProblem* problem = nullptr);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_CORE_JSON_STRICT_H_
