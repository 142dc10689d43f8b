#include "http/errors.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace iothub::http {
namespace {

struct Row {
  StatusCode code;
  std::string reason;
  int http;
  std::string azure_code;
};

// Every StatusCode but kOk, and the reasons that change the answer.
const Row kTable[] = {
    {StatusCode::kInvalidArgument, "", 400, "ArgumentInvalid"},
    {StatusCode::kUnauthenticated, "", 401, "IotHubUnauthorizedAccess"},
    {StatusCode::kPermissionDenied, "", 401, "IotHubUnauthorizedAccess"},
    {StatusCode::kResourceExhausted, "", 403, "IotHubQuotaExceeded"},
    {StatusCode::kResourceExhausted, "DeviceMaximumQueueDepthExceeded", 403,
     "DeviceMaximumQueueDepthExceeded"},
    {StatusCode::kResourceExhausted, "ThrottlingException", 429, "ThrottlingException"},
    {StatusCode::kResourceExhausted, "ThrottleBacklogLimitExceeded", 429,
     "ThrottleBacklogLimitExceeded"},
    {StatusCode::kNotFound, "", 404, "DeviceNotFound"},
    {StatusCode::kAlreadyExists, "", 409, "DeviceAlreadyExists"},
    {StatusCode::kPreconditionFailed, "", 412, "PreconditionFailed"},
    {StatusCode::kTooLarge, "", 413, "MessageTooLarge"},
    {StatusCode::kUnavailable, "", 503, "ServiceUnavailable"},
    {StatusCode::kInternal, "", 500, "ServerError"},
    {StatusCode::kCorruption, "", 500, "ServerError"},
};

TEST(ErrorsTest, MapsEveryStatusCode) {
  for (const Row& row : kTable) {
    Status status(row.code, "what happened", row.reason);
    SCOPED_TRACE(status.ToString());
    EXPECT_EQ(HttpErrorFor(status).status, row.http);
    Response response = ErrorResponse(status);
    EXPECT_EQ(response.status, row.http);
    EXPECT_EQ(response.headers.at("Content-Type"), "application/json; charset=utf-8");
    auto body = nlohmann::json::parse(response.body);
    std::string text = row.http == 500 ? "internal server error" : "what happened";
    EXPECT_EQ(body["Message"], "ErrorCode:" + row.azure_code + ";" + text);
    EXPECT_EQ(body["ExceptionMessage"], text);
    EXPECT_EQ(body.size(), 2u);
  }
}

TEST(ErrorsTest, ReasonOverridesTheDefaultCode) {
  Response r = ErrorResponse(NotFound("no such hub", "IotHubNotFound"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(nlohmann::json::parse(r.body)["Message"], "ErrorCode:IotHubNotFound;no such hub");
}

TEST(ErrorsTest, InternalDetailsStayOut) {
  Response r = ErrorResponse(Internal("rocksdb: IO error at /secret/path"));
  EXPECT_EQ(r.body.find("secret"), std::string::npos);
}

TEST(ErrorsTest, EmptyMessageStillLeavesTextAfterTheCode) {
  Response r = ErrorResponse(NotFound(""));
  EXPECT_EQ(nlohmann::json::parse(r.body)["Message"], "ErrorCode:DeviceNotFound;DeviceNotFound");
}

TEST(ErrorsTest, OkIsAnsweredAsAFaultNotACrash) {
  EXPECT_EQ(HttpErrorFor(Status::Ok()).status, 500);
}

TEST(ErrorsTest, InvalidUtf8InMessagesIsReplaced) {
  Response r = ErrorResponse(InvalidArgument("bad id '\xff'"));
  EXPECT_EQ(r.status, 400);
  EXPECT_FALSE(nlohmann::json::parse(r.body, nullptr, false).is_discarded());
}

TEST(ErrorsTest, ExplicitStatusAndCode) {
  Response r = ErrorResponse(431, "RequestHeaderFieldsTooLarge", "too big");
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(nlohmann::json::parse(r.body)["Message"],
            "ErrorCode:RequestHeaderFieldsTooLarge;too big");
}

}  // namespace
}  // namespace iothub::http
