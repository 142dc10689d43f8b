#include "http/message.h"

#include <gtest/gtest.h>

namespace iothub::http {
namespace {

TEST(ParseTargetTest, SplitsAndDecodesSegments) {
  Request r;
  ASSERT_TRUE(ParseTarget("/devices/a%2Fb%20c", &r).ok());
  EXPECT_EQ(r.segments, (std::vector<std::string>{"devices", "a/b c"}));
  EXPECT_FALSE(r.trailing_slash);
  EXPECT_EQ(r.target, "/devices/a%2Fb%20c");
}

TEST(ParseTargetTest, TrailingSlashIsNotASegment) {
  Request r;
  ASSERT_TRUE(ParseTarget("/devices/?top=5", &r).ok());
  EXPECT_EQ(r.segments, (std::vector<std::string>{"devices"}));
  EXPECT_TRUE(r.trailing_slash);
}

TEST(ParseTargetTest, RootHasNoSegments) {
  Request r;
  ASSERT_TRUE(ParseTarget("/", &r).ok());
  EXPECT_TRUE(r.segments.empty());
  EXPECT_FALSE(r.trailing_slash);
}

TEST(ParseTargetTest, InnerEmptySegmentIsKept) {
  Request r;
  ASSERT_TRUE(ParseTarget("/devices//x", &r).ok());
  EXPECT_EQ(r.segments, (std::vector<std::string>{"devices", "", "x"}));
}

TEST(ParseTargetTest, DecodesQueryParameters) {
  Request r;
  ASSERT_TRUE(ParseTarget("/x?api-version=2021-04-12&reject&k=a%26b&&top=2", &r).ok());
  EXPECT_EQ(r.Query("api-version").value_or("?"), "2021-04-12");
  EXPECT_EQ(r.Query("reject").value_or("?"), "");
  EXPECT_EQ(r.Query("k").value_or("?"), "a&b");
  EXPECT_EQ(r.Query("top").value_or("?"), "2");
  EXPECT_FALSE(r.Query("missing").has_value());
}

TEST(ParseTargetTest, RejectsBrokenEscapes) {
  Request r;
  EXPECT_EQ(ParseTarget("/devices/%zz", &r).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseTarget("/devices?x=%4", &r).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseTarget("/devices?%=1", &r).code(), StatusCode::kInvalidArgument);
}

TEST(ParseTargetTest, RejectsTargetsWithoutLeadingSlash) {
  Request r;
  EXPECT_EQ(ParseTarget("", &r).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseTarget("http://h/devices", &r).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseTarget("*", &r).code(), StatusCode::kInvalidArgument);
}

TEST(RequestTest, HeadersAreCaseInsensitive) {
  Request r;
  r.headers.emplace("If-Match", "\"*\"");
  EXPECT_EQ(r.Header("if-match").value_or("?"), "\"*\"");
  EXPECT_EQ(r.Header("IF-MATCH").value_or("?"), "\"*\"");
  EXPECT_FALSE(r.Header("If-None-Match").has_value());
  EXPECT_FALSE(r.headers.emplace("if-match", "x").second);
}

TEST(ResponseTest, JsonResponseSaysUtf8Json) {
  Response r = JsonResponse(201, "{}");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.headers.at("content-type"), "application/json; charset=utf-8");
  EXPECT_EQ(r.body, "{}");
  Response e = EmptyResponse(204);
  EXPECT_EQ(e.status, 204);
  EXPECT_TRUE(e.headers.empty());
  EXPECT_TRUE(e.body.empty());
}

}  // namespace
}  // namespace iothub::http
