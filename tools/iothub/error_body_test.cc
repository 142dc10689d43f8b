#include "tools/iothub/error_body.h"

#include <gtest/gtest.h>

#include "tools/iothub/cli_status.h"
#include "tools/iothub/fake_transport.h"

namespace iothub::cli {
namespace {

TEST(ErrorBodyTest, ReadsIothubsAzureErrorBody) {
  AzureError error = ParseErrorBody(
      R"({"Message":"ErrorCode:DeviceNotFound;Device 'd9' not found","ExceptionMessage":"x"})");
  EXPECT_EQ(error.code, "DeviceNotFound");
  EXPECT_EQ(error.message, "Device 'd9' not found");
}

TEST(ErrorBodyTest, TextAfterTheCodeMayBeMissing) {
  AzureError error = ParseErrorBody(
      R"({"Message":"ErrorCode:IotHubUnauthorizedAccess","ExceptionMessage":"Unauthorized"})");
  EXPECT_EQ(error.code, "IotHubUnauthorizedAccess");
  EXPECT_EQ(error.message, "Unauthorized");
}

TEST(ErrorBodyTest, ReadsIotHubsNestedForm) {
  AzureError error = ParseErrorBody(
      R"({"Message":"{\"errorCode\":404001,\"trackingId\":\"t\",\"message\":\"Device not found\"}"})");
  EXPECT_EQ(error.code, "404001");
  EXPECT_EQ(error.message, "Device not found");
}

TEST(ErrorBodyTest, ReadsCodeAndMessageObjects) {
  AzureError error = ParseErrorBody(R"({"code":"Throttled","message":"slow down"})");
  EXPECT_EQ(error.code, "Throttled");
  EXPECT_EQ(error.message, "slow down");
}

TEST(ErrorBodyTest, PlainTextGivesItsFirstLineCapped) {
  AzureError error = ParseErrorBody("  Bad gateway\r\nmore detail\n");
  EXPECT_EQ(error.code, "");
  EXPECT_EQ(error.message, "Bad gateway");
  AzureError longer = ParseErrorBody(std::string(500, 'x'));
  EXPECT_EQ(longer.message, std::string(200, 'x') + "...");
}

TEST(ErrorBodyTest, UnreadableBodiesGiveNothing) {
  for (const char* body : {"", "[1,2]", "{}", R"({"Message":42})", "\"just a string\""}) {
    AzureError error = ParseErrorBody(body);
    EXPECT_EQ(error.code, "") << body;
  }
}

TEST(ErrorBodyTest, StatusCarriesTheAzureCodeAndTheHttpStatus) {
  Status status = StatusFromResponse(ErrorReply(404, "DeviceNotFound", "Device 'd9' not found"));
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_EQ(status.reason(), "DeviceNotFound");
  EXPECT_EQ(ErrorLine(status), "DeviceNotFound: Device 'd9' not found (HTTP 404)");
  EXPECT_EQ(ExitCodeFor(status), kExitNotFound);
}

TEST(ErrorBodyTest, BodyWithoutCodeFallsBackToTheHttpStatus) {
  Status status = StatusFromResponse(Reply(502));
  EXPECT_EQ(ErrorLine(status), "HTTP 502: Bad Gateway");
  EXPECT_EQ(ExitCodeFor(status), kExitServerError);
}

TEST(ErrorBodyTest, ExitCodesFollowTheHttpStatus) {
  struct Case {
    int http;
    const char* code;
    int exit;
  };
  for (const Case& c :
       {Case{400, "ArgumentInvalid", kExitRejected},
        Case{401, "IotHubUnauthorizedAccess", kExitUnauthorized},
        Case{403, "IotHubUnauthorizedAccess", kExitUnauthorized},
        Case{403, "DeviceMaximumQueueDepthExceeded", kExitRejected},
        Case{404, "DeviceNotFound", kExitNotFound}, Case{404, "ResourceNotFound", kExitNotFound},
        Case{405, "MethodNotAllowed", kExitRejected},
        Case{409, "DeviceAlreadyExists", kExitConflict},
        Case{412, "PreconditionFailed", kExitConflict}, Case{413, "MessageTooLarge", kExitRejected},
        Case{429, "ThrottlingException", kExitRejected}, Case{500, "ServerError", kExitServerError},
        Case{503, "ServiceUnavailable", kExitServerError}}) {
    Status status = StatusFromResponse(ErrorReply(c.http, c.code, "text"));
    EXPECT_EQ(status.reason(), c.code) << c.http;
    EXPECT_EQ(ExitCodeFor(status), c.exit) << c.http << " " << c.code;
  }
}

TEST(ErrorBodyTest, UnexpectedSuccessIsABadResponse) {
  Status status = StatusFromResponse(Reply(202));
  EXPECT_EQ(status.reason(), kBadResponse);
  EXPECT_EQ(ExitCodeFor(status), kExitFailure);
}

TEST(CliStatusTest, OwnFailuresPrintJustTheirMessageWithTheirExitCode) {
  struct Case {
    const char* reason;
    int exit;
  };
  for (const Case& c :
       {Case{kUsageError, kExitUsage}, Case{kConfigError, kExitConfig},
        Case{kConnectionError, kExitConnection}, Case{kInterrupted, kExitInterrupted},
        Case{kTimedOut, kExitTimedOut}, Case{kBadResponse, kExitFailure},
        Case{kNegativeFeedback, kExitNegativeFeedback}}) {
    Status status(StatusCode::kUnavailable, "what happened", c.reason);
    EXPECT_EQ(ErrorLine(status), "what happened") << c.reason;
    EXPECT_EQ(ExitCodeFor(status), c.exit) << c.reason;
  }
  EXPECT_EQ(ExitCodeFor(Status::Ok()), kExitOk);
}

}  // namespace
}  // namespace iothub::cli
