// The shared fixtures of degrade's gtest suites, one header per concern, all
// in namespace degrade::test_util. Use these instead of writing a local copy;
// a test includes the headers of what it uses and says, in its anonymous
// namespace,
//   using namespace ::degrade::test_util;
//
//   tests/test_wait.h      Eventually, RunWithDeadline: bounded waiting
//   tests/test_registry.h  NoEnv, FakeEnv, QuietOptions, LogCapture,
//                          MakeTempDir, Spec, On/Off/Allow, Message, ScopedEnv:
//                          what a test hands to a Registry
//   tests/test_net.h       LoopbackAddress, BindLoopback, RawSocket,
//                          RefusingPort: sockets and servers on loopback
//   tests/test_http.h      Json, ErrorOf: the admin endpoint's JSON replies
//   tests/test_probes.h    ThreadCount, StableThreadCount, CountAllocations,
//                          AllocationCount, FailAllocationsOnThisThread:
//                          process and allocation probes
//
// Each header lists its helpers and their contracts at its top. This one
// includes all four, for a test that uses helpers of every kind; prefer the
// headers of what the test uses. (tests/test_http.h is left out of it: it
// brings cpp-httplib, which most tests do not need.)
#ifndef DEGRADE_TESTS_TEST_UTIL_H_
#define DEGRADE_TESTS_TEST_UTIL_H_

#include "test_net.h"
#include "test_probes.h"
#include "test_registry.h"
#include "test_wait.h"

#endif  // DEGRADE_TESTS_TEST_UTIL_H_
