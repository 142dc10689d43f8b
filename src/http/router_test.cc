#include "http/router.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace iothub::http {
namespace {

Request Make(std::string method, std::string_view target) {
  Request r;
  r.method = std::move(method);
  EXPECT_TRUE(ParseTarget(target, &r).ok());
  return r;
}

Handler Reply(std::string text) {
  return [text = std::move(text)](const Request&, const RouteParams& params) {
    Response r;
    r.body = text + ":" + std::string(params.Get("id"));
    return r;
  };
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Add("GET", "/devices/", Reply("list"));
    router_.Add("GET", "/devices/{id}", Reply("get"));
    router_.Add("PUT", "/devices/{id}", Reply("put"));
    router_.Add("DELETE", "/devices/{id}", Reply("delete"));
    router_.Add("POST", "/devices/{id}/messages/deviceBound/{lock}/abandon", Reply("abandon"));
  }
  Router router_;
};

TEST_F(RouterTest, MatchesMethodAndPattern) {
  EXPECT_EQ(router_.Dispatch(Make("GET", "/devices/d1")).body, "get:d1");
  EXPECT_EQ(router_.Dispatch(Make("PUT", "/devices/d1?api-version=1")).body, "put:d1");
  EXPECT_EQ(router_.Dispatch(Make("DELETE", "/devices/d1")).body, "delete:d1");
}

TEST_F(RouterTest, TrailingSlashIsIgnored) {
  EXPECT_EQ(router_.Dispatch(Make("GET", "/devices/")).body, "list:");
  EXPECT_EQ(router_.Dispatch(Make("GET", "/devices")).body, "list:");
  EXPECT_EQ(router_.Dispatch(Make("GET", "/devices/d1/")).body, "get:d1");
}

TEST_F(RouterTest, CapturesDecodedSegments) {
  EXPECT_EQ(router_.Dispatch(Make("GET", "/devices/a%2Fb")).body, "get:a/b");
}

TEST_F(RouterTest, LiteralsMatchCaseInsensitivelyButCapturesKeepCase) {
  EXPECT_EQ(router_.Dispatch(Make("POST", "/Devices/Dx/messages/devicebound/L1/Abandon")).body,
            "abandon:Dx");
}

TEST_F(RouterTest, MethodsAreCaseSensitive) {
  EXPECT_EQ(router_.Dispatch(Make("get", "/devices/d1")).status, 405);
}

TEST_F(RouterTest, UnknownPathIs404WithAzureBody) {
  Response r = router_.Dispatch(Make("GET", "/nothing/here"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.headers.at("Content-Type"), "application/json; charset=utf-8");
  auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["Message"].get<std::string>().rfind("ErrorCode:", 0), 0u);
  EXPECT_EQ(router_.Dispatch(Make("GET", "/devices/a/b")).status, 404);
}

TEST_F(RouterTest, WrongMethodIs405WithAllow) {
  Response r = router_.Dispatch(Make("POST", "/devices/d1"));
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers.at("Allow"), "GET, PUT, DELETE");
  EXPECT_NE(r.body.find("ErrorCode:MethodNotAllowed;"), std::string::npos) << r.body;
}

TEST(RouterOrderTest, FirstMatchingRouteWins) {
  Router router;
  router.Add("GET", "/a/{x}", Reply("first"));
  router.Add("GET", "/a/b", Reply("second"));
  EXPECT_EQ(router.Dispatch(Make("GET", "/a/b")).body, "first:");
}

TEST(RouterOrderTest, RootRoute) {
  Router router;
  router.Add("GET", "/", Reply("root"));
  EXPECT_EQ(router.Dispatch(Make("GET", "/")).body, "root:");
  EXPECT_EQ(router.Dispatch(Make("GET", "/x")).status, 404);
}

}  // namespace
}  // namespace iothub::http
