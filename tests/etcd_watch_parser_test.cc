// The etcd watch stream parser against messages captured from a real etcd
// 3.4.23 (curl -N -X POST http://127.0.0.1:PORT/v3/watch), fed whole and
// split at every byte.
#include "etcd/etcd_watch_parser.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "etcd/etcd_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace degrade::internal {
namespace {

using ::testing::HasSubstr;

// Captured: watch created at revision 2.
constexpr char kCreated[] =
    R"({"result":{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"2","raft_term":"2"},"created":true}})"
    "\n";
// Captured: put /d/switches/b = {"state":"on","allow":0.5}.
constexpr char kPut[] =
    R"({"result":{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"3","raft_term":"2"},"events":[{"kv":{"key":"L2Qvc3dpdGNoZXMvYg==","create_revision":"3","mod_revision":"3","version":"1","value":"eyJzdGF0ZSI6Im9uIiwiYWxsb3ciOjAuNX0="}}]}})"
    "\n";
// Captured: delete /d/switches/a.
constexpr char kDelete[] =
    R"({"result":{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"4","raft_term":"2"},"events":[{"type":"DELETE","kv":{"key":"L2Qvc3dpdGNoZXMvYQ==","mod_revision":"4"}}]}})"
    "\n";
// Captured: put /d/all = "" (no "value" field at all).
constexpr char kPutEmpty[] =
    R"({"result":{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"5","raft_term":"2"},"events":[{"kv":{"key":"L2QvYWxs","create_revision":"5","mod_revision":"5","version":"1"}}]}})"
    "\n";
// Captured: a watcher catching up from revision 5 when the store is at 6:
// the header says 6 while the batch holds revisions 5 and 6.
constexpr char kCatchUp[] =
    R"({"result":{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"6","raft_term":"3"},"events":[{"kv":{"key":"L2QvYWxs","create_revision":"5","mod_revision":"5","version":"1"}},{"kv":{"key":"L2QvZ3JvdXBzL2c=","create_revision":"6","mod_revision":"6","version":"1","value":"b2Zm"}},{"kv":{"key":"L2Qvc3dpdGNoZXMvYw==","create_revision":"6","mod_revision":"6","version":"1","value":"b24="}}]}})"
    "\n";
// Captured: progress notification (--experimental-watch-progress-notify-interval=1s).
constexpr char kProgress[] =
    R"({"result":{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"6","raft_term":"3"}}})"
    "\n";
// Captured: watch from revision 3 after compaction at 5 (no header revision).
constexpr char kCompacted[] =
    R"({"result":{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","raft_term":"2"},"canceled":true,"compact_revision":"5"}})"
    "\n";
// Captured: watch with auth enabled and a bad token.
constexpr char kAuthCanceled[] =
    R"({"result":{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"6","raft_term":"3"},"watch_id":"-1","created":true,"canceled":true,"cancel_reason":"rpc error: code = Unauthenticated desc = etcdserver: invalid auth token"}})"
    "\n";
// Captured: a request the gateway cannot decode (no trailing newline).
constexpr char kError[] =
    R"({"error":"json: cannot unmarshal number into Go value of type []uint8","message":"json: cannot unmarshal number into Go value of type []uint8","code":2})";

struct Collected {
  std::vector<EtcdWatchMessage> messages;
  std::function<void(EtcdWatchMessage&&)> sink() {
    return [this](EtcdWatchMessage&& m) { messages.push_back(std::move(m)); };
  }
};

absl::StatusOr<std::vector<EtcdWatchMessage>> ParseAll(std::string_view stream) {
  EtcdWatchParser parser;
  Collected c;
  if (absl::Status s = parser.Feed(stream, c.sink()); !s.ok()) return s;
  return c.messages;
}

TEST(EtcdWatchParserTest, CreatedMessage) {
  auto m = ParseAll(kCreated);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 1u);
  EXPECT_TRUE((*m)[0].created);
  EXPECT_FALSE((*m)[0].canceled);
  EXPECT_EQ((*m)[0].header_revision, 2);
  EXPECT_TRUE((*m)[0].events.empty());
}

TEST(EtcdWatchParserTest, PutEventDecodesKeyValueAndRevision) {
  auto m = ParseAll(kPut);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 1u);
  ASSERT_EQ((*m)[0].events.size(), 1u);
  const EtcdEvent& e = (*m)[0].events[0];
  EXPECT_EQ(e.type, EtcdEvent::Type::kPut);
  EXPECT_EQ(e.kv.key, "/d/switches/b");
  EXPECT_EQ(e.kv.value, R"({"state":"on","allow":0.5})");
  EXPECT_EQ(e.kv.mod_revision, 3);
  EXPECT_EQ((*m)[0].header_revision, 3);
}

TEST(EtcdWatchParserTest, DeleteEvent) {
  auto m = ParseAll(kDelete);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ((*m)[0].events.size(), 1u);
  const EtcdEvent& e = (*m)[0].events[0];
  EXPECT_EQ(e.type, EtcdEvent::Type::kDelete);
  EXPECT_EQ(e.kv.key, "/d/switches/a");
  EXPECT_EQ(e.kv.value, "");
  EXPECT_EQ(e.kv.mod_revision, 4);
}

TEST(EtcdWatchParserTest, PutOfEmptyValueHasNoValueField) {
  auto m = ParseAll(kPutEmpty);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ((*m)[0].events.size(), 1u);
  EXPECT_EQ((*m)[0].events[0].type, EtcdEvent::Type::kPut);
  EXPECT_EQ((*m)[0].events[0].kv.key, "/d/all");
  EXPECT_EQ((*m)[0].events[0].kv.value, "");
}

TEST(EtcdWatchParserTest, CatchUpBatchKeepsEachEventsRevision) {
  auto m = ParseAll(kCatchUp);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ((*m)[0].events.size(), 3u);
  EXPECT_EQ((*m)[0].header_revision, 6);
  EXPECT_EQ((*m)[0].events[0].kv.mod_revision, 5);
  EXPECT_EQ((*m)[0].events[1].kv.mod_revision, 6);
  EXPECT_EQ((*m)[0].events[1].kv.value, "off");
  EXPECT_EQ((*m)[0].events[2].kv.key, "/d/switches/c");
}

TEST(EtcdWatchParserTest, ProgressNotification) {
  auto m = ParseAll(kProgress);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 1u);
  EXPECT_FALSE((*m)[0].created);
  EXPECT_FALSE((*m)[0].canceled);
  EXPECT_TRUE((*m)[0].events.empty());
  EXPECT_EQ((*m)[0].header_revision, 6);
}

TEST(EtcdWatchParserTest, CompactedWatchIsCanceledWithCompactRevision) {
  auto m = ParseAll(kCompacted);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE((*m)[0].canceled);
  EXPECT_EQ((*m)[0].compact_revision, 5);
  EXPECT_EQ((*m)[0].header_revision, 0);
}

TEST(EtcdWatchParserTest, AuthFailureIsCanceledWithReason) {
  auto m = ParseAll(kAuthCanceled);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE((*m)[0].created);
  EXPECT_TRUE((*m)[0].canceled);
  EXPECT_THAT((*m)[0].cancel_reason, HasSubstr("invalid auth token"));
}

TEST(EtcdWatchParserTest, ErrorMessageCarriesGrpcCode) {
  auto m = ParseAll(kError);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kUnknown);  // gRPC code 2
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("etcd: json: cannot unmarshal number"));
}

TEST(EtcdWatchParserTest, NestedErrorObject) {
  auto m = ParseAll(
      R"({"error":{"grpc_code":16,"http_code":401,"message":"etcdserver: invalid auth token","http_status":"Unauthorized"}})");
  EXPECT_EQ(m.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("etcdserver: invalid auth token"));
}

TEST(EtcdWatchParserTest, MessagesAfterAnErrorAreNotDelivered) {
  EtcdWatchParser parser;
  Collected c;
  std::string stream = std::string(kError) + kPut;
  EXPECT_FALSE(parser.Feed(stream, c.sink()).ok());
  EXPECT_TRUE(c.messages.empty());
  // Sticky: a later feed reports the same error.
  absl::Status again = parser.Feed(kPut, c.sink());
  EXPECT_EQ(again.code(), absl::StatusCode::kUnknown);
  EXPECT_TRUE(c.messages.empty());
}

std::string WholeStream() {
  return std::string(kCreated) + kPut + kDelete + kPutEmpty + kCatchUp + kProgress + kCompacted;
}

void ExpectWholeStream(const std::vector<EtcdWatchMessage>& m) {
  ASSERT_EQ(m.size(), 7u);
  EXPECT_TRUE(m[0].created);
  EXPECT_EQ(m[1].events.at(0).kv.key, "/d/switches/b");
  EXPECT_EQ(m[2].events.at(0).type, EtcdEvent::Type::kDelete);
  EXPECT_EQ(m[3].events.at(0).kv.key, "/d/all");
  EXPECT_EQ(m[4].events.size(), 3u);
  EXPECT_EQ(m[5].header_revision, 6);
  EXPECT_EQ(m[6].compact_revision, 5);
}

TEST(EtcdWatchParserTest, WholeStreamInOneFeed) {
  auto m = ParseAll(WholeStream());
  ASSERT_TRUE(m.ok()) << m.status();
  ExpectWholeStream(*m);
}

TEST(EtcdWatchParserTest, EverySplitIntoTwoFeedsGivesTheSameMessages) {
  const std::string stream = WholeStream();
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    EtcdWatchParser parser;
    Collected c;
    ASSERT_TRUE(parser.Feed(std::string_view(stream).substr(0, cut), c.sink()).ok()) << cut;
    ASSERT_TRUE(parser.Feed(std::string_view(stream).substr(cut), c.sink()).ok()) << cut;
    SCOPED_TRACE(cut);
    ExpectWholeStream(c.messages);
  }
}

TEST(EtcdWatchParserTest, EverySplitIntoThreeFeedsOfOneMessage) {
  const std::string stream = kCatchUp;
  for (size_t a = 0; a <= stream.size(); ++a) {
    for (size_t b = a; b <= stream.size(); b += 7) {
      EtcdWatchParser parser;
      Collected c;
      const std::string_view s(stream);
      ASSERT_TRUE(parser.Feed(s.substr(0, a), c.sink()).ok());
      ASSERT_TRUE(parser.Feed(s.substr(a, b - a), c.sink()).ok());
      ASSERT_TRUE(parser.Feed(s.substr(b), c.sink()).ok());
      ASSERT_EQ(c.messages.size(), 1u) << a << " " << b;
      ASSERT_EQ(c.messages[0].events.size(), 3u);
    }
  }
}

TEST(EtcdWatchParserTest, ByteByByte) {
  const std::string stream = WholeStream();
  EtcdWatchParser parser;
  Collected c;
  for (char ch : stream) ASSERT_TRUE(parser.Feed(std::string_view(&ch, 1), c.sink()).ok());
  ExpectWholeStream(c.messages);
}

TEST(EtcdWatchParserTest, BracesInsideStringsDoNotEndTheMessage) {
  // A cancel reason with braces, brackets, quotes and a backslash.
  auto m = ParseAll(R"({"result":{"canceled":true,"cancel_reason":"a}]\"\\{["}})");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 1u);
  EXPECT_EQ((*m)[0].cancel_reason, "a}]\"\\{[");
}

TEST(EtcdWatchParserTest, NumbersAsJsonNumbersAreAccepted) {
  auto m = ParseAll(
      R"({"result":{"header":{"revision":9},"events":[{"type":1,"kv":{"key":"YQ==","mod_revision":9}}]}})");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)[0].header_revision, 9);
  EXPECT_EQ((*m)[0].events[0].type, EtcdEvent::Type::kDelete);
}

TEST(EtcdWatchParserTest, IncompleteMessageIsHeldUntilTheRestArrives) {
  EtcdWatchParser parser;
  Collected c;
  const std::string put = kPut;
  ASSERT_TRUE(parser.Feed(std::string_view(put).substr(0, put.size() - 3), c.sink()).ok());
  EXPECT_TRUE(c.messages.empty());
  ASSERT_TRUE(parser.Feed(std::string_view(put).substr(put.size() - 3), c.sink()).ok());
  EXPECT_EQ(c.messages.size(), 1u);
}

struct BadCase {
  const char* name;
  const char* stream;
  absl::StatusCode code;
  const char* message;
};

class EtcdWatchParserBadTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(EtcdWatchParserBadTest, IsRejectedWithANamedReason) {
  const BadCase& c = GetParam();
  auto m = ParseAll(c.stream);
  EXPECT_EQ(m.status().code(), c.code) << m.status();
  EXPECT_THAT(std::string(m.status().message()), HasSubstr(c.message));
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("etcd watch stream: "));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, EtcdWatchParserBadTest,
    ::testing::Values(
        BadCase{"TextBetweenMessages", "{\"result\":{}}\nHTTP/1.1",
                absl::StatusCode::kInvalidArgument, "byte 0x48 ('H') between messages"},
        BadCase{"NotJson", "{\"result\":{,}}", absl::StatusCode::kInvalidArgument,
                "message is not valid JSON"},
        BadCase{"DuplicateKey",
                "{\"result\":{\"events\":[{\"kv\":{\"key\":\"YQ==\",\"value\":\"MQ==\","
                "\"value\":\"Mg==\"}}]}}",
                absl::StatusCode::kInvalidArgument,
                "etcd watch stream: result.events[0].kv: duplicate key \"value\"; each key may "
                "appear once"},
        BadCase{"NoResult", "{\"header\":{}}", absl::StatusCode::kInvalidArgument,
                "has no \"result\" object"},
        BadCase{"ResultNotObject", "{\"result\":[]}", absl::StatusCode::kInvalidArgument,
                "has no \"result\" object"},
        BadCase{"HeaderNotObject", "{\"result\":{\"header\":1}}",
                absl::StatusCode::kInvalidArgument, "result.header: 1 is not an object"},
        BadCase{"RevisionNotNumber", "{\"result\":{\"header\":{\"revision\":\"x1\"}}}",
                absl::StatusCode::kInvalidArgument,
                "result.header.revision: \"x1\" is not a revision"},
        BadCase{"NegativeRevision", "{\"result\":{\"header\":{\"revision\":\"-1\"}}}",
                absl::StatusCode::kInvalidArgument, "result.header.revision: \"-1\""},
        BadCase{"RevisionTooBig",
                "{\"result\":{\"compact_revision\":\"99999999999999999999\"}}",
                absl::StatusCode::kInvalidArgument, "result.compact_revision"},
        BadCase{"CreatedNotBool", "{\"result\":{\"created\":\"true\"}}",
                absl::StatusCode::kInvalidArgument, "result.created: \"true\" is not a boolean"},
        BadCase{"ReasonNotString", "{\"result\":{\"cancel_reason\":3}}",
                absl::StatusCode::kInvalidArgument, "result.cancel_reason: 3 is not a string"},
        BadCase{"EventsNotArray", "{\"result\":{\"events\":{}}}",
                absl::StatusCode::kInvalidArgument, "result.events: {} is not an array"},
        BadCase{"EventNotObject", "{\"result\":{\"events\":[1]}}",
                absl::StatusCode::kInvalidArgument, "result.events[0]: 1 is not an object"},
        BadCase{"UnknownType", "{\"result\":{\"events\":[{\"type\":\"PATCH\",\"kv\":{\"key\":\"YQ==\"}}]}}",
                absl::StatusCode::kInvalidArgument,
                "result.events[0].type: \"PATCH\" is not an event type"},
        BadCase{"NoKv", "{\"result\":{\"events\":[{}]}}", absl::StatusCode::kInvalidArgument,
                "result.events[0].kv: missing"},
        BadCase{"NoKey", "{\"result\":{\"events\":[{\"kv\":{}}]}}",
                absl::StatusCode::kInvalidArgument, "result.events[0].kv.key: missing"},
        BadCase{"KeyNotBase64", "{\"result\":{\"events\":[{\"kv\":{\"key\":\"!!\"}}]}}",
                absl::StatusCode::kInvalidArgument,
                "result.events[0].kv.key: \"!!\" is not base64"},
        BadCase{"ValueNotString",
                "{\"result\":{\"events\":[{\"kv\":{\"key\":\"YQ==\",\"value\":7}}]}}",
                absl::StatusCode::kInvalidArgument, "result.events[0].kv.value: 7 is not base64"},
        BadCase{"TooDeep", "{\"result\":{\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                           "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]}}",
                absl::StatusCode::kInvalidArgument, "nested deeper than 64 levels"},
        BadCase{"EtcdError",
                "{\"error\":\"etcdserver: user name is empty\",\"message\":\"etcdserver: user "
                "name is empty\",\"code\":3}",
                absl::StatusCode::kInvalidArgument, "etcd: etcdserver: user name is empty"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

TEST(EtcdWatchParserTest, OversizedMessageIsRejectedBeforeItEnds) {
  EtcdWatchParser parser(64);
  Collected c;
  const std::string big = "{\"result\":{\"cancel_reason\":\"" + std::string(100, 'x');
  absl::Status s = parser.Feed(big, c.sink());
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(s.message()), HasSubstr("longer than the limit of 64 bytes"));
}

// Found by fuzz/etcd_watch_fuzz: a message over both limits got the size
// error when fed in pieces and the depth error when fed whole.
TEST(EtcdWatchParserTest, TheFirstLimitCrossedDecidesTheErrorHoweverTheStreamIsSplit) {
  const std::string deep = "{\"result\":" + std::string(100, '[');
  for (const size_t piece : {size_t{1}, size_t{7}, deep.size()}) {
    EtcdWatchParser parser(40);  // the size limit is crossed at byte 41, the depth at byte 74
    Collected c;
    absl::Status s;
    for (size_t at = 0; at < deep.size() && s.ok(); at += piece) {
      s = parser.Feed(std::string_view(deep).substr(at, piece), c.sink());
    }
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << "pieces of " << piece << ": " << s;
    EXPECT_THAT(s.message(), HasSubstr("longer than the limit of 40 bytes")) << "pieces of " << piece;
  }
}

TEST(EtcdWatchParserTest, MessageOfExactlyTheLimitIsAccepted) {
  const std::string msg = "{\"result\":{\"created\":true}}";
  EtcdWatchParser parser(msg.size());
  Collected c;
  ASSERT_TRUE(parser.Feed(msg + "\n" + msg, c.sink()).ok());
  EXPECT_EQ(c.messages.size(), 2u);
}

TEST(EtcdJsonTest, PrefixEnd) {
  EXPECT_EQ(EtcdPrefixEnd("/d/"), "/d0");
  EXPECT_EQ(EtcdPrefixEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(EtcdPrefixEnd(std::string("\xff\xff", 2)), std::string(1, '\0'));
}

TEST(EtcdJsonTest, Base64RoundTrip) {
  EXPECT_EQ(EtcdBase64("/d/switches/a"), "L2Qvc3dpdGNoZXMvYQ==");
}

}  // namespace
}  // namespace degrade::internal
