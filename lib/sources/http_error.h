// What a failed cpp-httplib request means, in words: shared by the HTTP
// source and the etcd client, which both talk HTTP through cpp-httplib
// (defined in http_source.cc).
#ifndef DEGRADE_LIB_SOURCES_HTTP_ERROR_H_
#define DEGRADE_LIB_SOURCES_HTTP_ERROR_H_

#include <httplib.h>

#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace degrade::internal {

// `error` in words, e.g. "cannot connect (connection refused or host
// unreachable)" or "TLS handshake failed". `timed_out`: the request ran for
// about `limit`, so a connection or read error is told as a timeout (a
// ConnectionTimeout always is). `ca_file`: the CA file the client was given
// ("" for the system store). `ca_remedy`: what the operator should do when
// verification against the system store fails, e.g. "set remote_ca_file to
// the CA that signed the server's certificate".
std::string DescribeHttpError(httplib::Error error, bool timed_out, absl::Duration limit,
                              std::string_view ca_file, std::string_view ca_remedy);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_SOURCES_HTTP_ERROR_H_
