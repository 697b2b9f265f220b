// Reading the etcd v3 JSON gateway's encoding (etcd 3.4, grpc-gateway v1).
// Not installed. Shared by the watch parser and the client.
//
// The gateway writes protobuf messages as JSON with these conventions:
//   - bytes fields (keys, values) are standard base64 with padding;
//   - 64-bit integers (revisions, counts) are JSON strings ("42");
//   - fields equal to their zero value (0, false, "", empty list, PUT) are
//     omitted;
//   - an error is {"error": "...", "message": "...", "code": N} (N a gRPC
//     code), and some paths nest it: {"error": {"grpc_code": N,
//     "http_code": N, "message": "...", "http_status": "..."}}.
// The readers below accept a 64-bit integer as a string or as a JSON integer
// (other gateway settings emit numbers), treat a missing field as zero, and
// return InvalidArgument naming `path`, the value and what is accepted.
//
// Thread safety: pure functions.
#ifndef DEGRADE_LIB_ETCD_JSON_H_
#define DEGRADE_LIB_ETCD_JSON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace degrade::internal {

// `value` as a non-negative 64-bit integer: "123" or 123 (etcd's revisions
// and counts are never negative).
absl::StatusOr<int64_t> EtcdInt64(const nlohmann::json& value, std::string_view path);

// obj[field] as EtcdInt64, 0 when absent. `obj` must be an object.
absl::StatusOr<int64_t> EtcdInt64Field(const nlohmann::json& obj, const char* field,
                                       std::string_view path);

// obj[field] as a bool, false when absent.
absl::StatusOr<bool> EtcdBoolField(const nlohmann::json& obj, const char* field,
                                   std::string_view path);

// obj[field] as a string, "" when absent.
absl::StatusOr<std::string> EtcdStringField(const nlohmann::json& obj, const char* field,
                                            std::string_view path);

// obj[field] base64-decoded, "" when absent.
absl::StatusOr<std::string> EtcdBytesField(const nlohmann::json& obj, const char* field,
                                           std::string_view path);

// Standard base64 with padding, as the gateway expects keys and values.
std::string EtcdBase64(std::string_view bytes);

// When `body` (a whole response object) is an error, the status it stands
// for: the gRPC code carried as the absl code (they share numbering), the
// message prefixed with "etcd: ". Unknown when the code is missing or out of
// range. nullopt when `body` is not an error.
std::optional<absl::Status> EtcdErrorStatus(const nlohmann::json& body);

// Compact JSON of `value` cut to about 64 bytes, for messages.
std::string EtcdShowValue(const nlohmann::json& value);

// The key range that holds every key starting with `prefix` (non-empty):
// `prefix` with its last byte below 0xff incremented and what follows it
// dropped ("/a/" -> "/a0"). A prefix of only 0xff bytes gives "\0", which
// etcd reads as "to the end of the key space".
std::string EtcdPrefixEnd(std::string_view prefix);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ETCD_JSON_H_
