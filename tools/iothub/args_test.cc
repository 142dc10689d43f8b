#include "tools/iothub/args.h"

#include <gtest/gtest.h>

#include <vector>

#include "tools/iothub/cli_status.h"

namespace iothub::cli {
namespace {

Result<Invocation> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "iothub");
  return ParseArguments(static_cast<int>(args.size()), args.data());
}

// The usage error's message; "" when parsing succeeded.
std::string UsageMessage(std::vector<const char*> args) {
  auto inv = Parse(std::move(args));
  if (inv) return "";
  EXPECT_EQ(inv.error().reason(), kUsageError);
  EXPECT_EQ(ExitCodeFor(inv.error()), kExitUsage);
  return inv.error().message();
}

TEST(ArgsTest, EachDeviceCommandTakesTheDeviceId) {
  struct Case {
    const char* name;
    Command command;
  };
  for (auto [name, command] :
       {Case{"create", Command::kDeviceCreate}, Case{"show", Command::kDeviceShow},
        Case{"delete", Command::kDeviceDelete}, Case{"enable", Command::kDeviceEnable},
        Case{"disable", Command::kDeviceDisable},
        Case{"connection-string", Command::kDeviceConnectionString},
        Case{"token", Command::kDeviceToken}}) {
    auto inv = Parse({"device", name, "d-1"});
    ASSERT_TRUE(inv.has_value()) << name << ": " << inv.error().message();
    EXPECT_EQ(inv->command, command) << name;
    EXPECT_EQ(inv->device_id, "d-1") << name;
    EXPECT_FALSE(inv->json);
  }
}

TEST(ArgsTest, MissingDeviceIdIsAUsageError) {
  EXPECT_NE(UsageMessage({"device", "show"}).find("device-id"), std::string::npos);
  EXPECT_NE(UsageMessage({"c2d", "send", "d1"}).find("body"), std::string::npos);
}

TEST(ArgsTest, MissingOrUnknownCommandIsAUsageError) {
  EXPECT_NE(UsageMessage({}), "");
  EXPECT_NE(UsageMessage({"device"}), "");
  EXPECT_NE(UsageMessage({"devices", "list"}), "");
  EXPECT_EQ(UsageMessage({"device", "list", "--bogus"}), "unknown option --bogus");
}

TEST(ArgsTest, GlobalOptionsMayComeBeforeOrAfterTheCommand) {
  auto before = Parse({"--json", "--data-dir", "/d", "device", "list"});
  auto after =
      Parse({"device", "list", "--host", "127.0.0.5:8443", "--json", "--data-dir", "/d", "--policy",
             "registryRead", "--ca", "/ca.pem", "--connection-string", "HostName=h"});
  ASSERT_TRUE(before.has_value()) << before.error().message();
  ASSERT_TRUE(after.has_value()) << after.error().message();
  EXPECT_TRUE(before->json);
  EXPECT_EQ(before->hub.data_dir, "/d");
  EXPECT_EQ(before->hub.policy, "iothubowner");
  EXPECT_TRUE(after->json);
  EXPECT_EQ(after->command, Command::kDeviceList);
  EXPECT_EQ(after->hub.host, "127.0.0.5:8443");
  EXPECT_EQ(after->hub.policy, "registryRead");
  EXPECT_EQ(after->hub.ca_file, "/ca.pem");
  EXPECT_EQ(after->hub.connection_string, "HostName=h");
}

TEST(ArgsTest, DeviceCreateOptions) {
  auto inv = Parse({"device", "create", "d1", "--primary-key", "pk", "--secondary-key", "sk",
                    "--disabled", "--edge"});
  ASSERT_TRUE(inv.has_value()) << inv.error().message();
  EXPECT_EQ(inv->primary_key, "pk");
  EXPECT_EQ(inv->secondary_key, "sk");
  EXPECT_TRUE(inv->disabled);
  EXPECT_TRUE(inv->edge);
}

TEST(ArgsTest, ListTopIsBounded) {
  auto inv = Parse({"device", "list", "--top", "5"});
  ASSERT_TRUE(inv.has_value());
  EXPECT_EQ(inv->top, 5);
  EXPECT_EQ(Parse({"device", "list"})->top, 1000);
  EXPECT_NE(UsageMessage({"device", "list", "--top", "0"}), "");
  EXPECT_NE(UsageMessage({"device", "list", "--top", "1001"}), "");
}

TEST(ArgsTest, ConnectionStringKeyChoice) {
  EXPECT_EQ(Parse({"device", "connection-string", "d1"})->key, "primary");
  EXPECT_EQ(Parse({"device", "connection-string", "d1", "--key", "secondary"})->key, "secondary");
  EXPECT_NE(UsageMessage({"device", "connection-string", "d1", "--key", "third"}), "");
}

TEST(ArgsTest, DeviceTokenTtlAndKey) {
  auto plain = Parse({"device", "token", "d1"});
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->ttl_seconds, std::nullopt);  // the command's default applies
  EXPECT_EQ(plain->key, "primary");
  auto inv = Parse({"device", "token", "d1", "--ttl", "31536000", "--key", "secondary"});
  ASSERT_TRUE(inv.has_value()) << inv.error().message();
  EXPECT_EQ(inv->ttl_seconds, std::optional<uint32_t>(kMaxTtlSeconds));
  EXPECT_EQ(inv->key, "secondary");
  EXPECT_NE(UsageMessage({"device", "token", "d1", "--ttl", "0"}), "");
  EXPECT_NE(UsageMessage({"device", "token", "d1", "--ttl", "31536001"}), "");
}

TEST(ArgsTest, C2dSendCollectsTheMessage) {
  auto inv = Parse({"c2d",
                    "send",
                    "d1",
                    "hello world",
                    "--message-id",
                    "m1",
                    "--correlation-id",
                    "c1",
                    "--property",
                    "a=1",
                    "--property",
                    "b=x=y",
                    "--ack",
                    "positive",
                    "--ttl",
                    "120",
                    "--content-type",
                    "text/plain",
                    "--content-encoding",
                    "utf-8"});
  ASSERT_TRUE(inv.has_value()) << inv.error().message();
  EXPECT_EQ(inv->command, Command::kC2dSend);
  EXPECT_EQ(inv->device_id, "d1");
  EXPECT_EQ(inv->message.body, "hello world");
  EXPECT_EQ(inv->message.message_id, "m1");
  EXPECT_EQ(inv->message.correlation_id, "c1");
  EXPECT_EQ(inv->message.ack, "positive");
  EXPECT_EQ(inv->message.content_type, "text/plain");
  EXPECT_EQ(inv->message.content_encoding, "utf-8");
  ASSERT_EQ(inv->message.properties.size(), 2u);
  EXPECT_EQ(inv->message.properties[0], std::make_pair(std::string("a"), std::string("1")));
  // Only the first '=' splits.
  EXPECT_EQ(inv->message.properties[1], std::make_pair(std::string("b"), std::string("x=y")));
  EXPECT_EQ(inv->ttl_seconds, std::optional<uint32_t>(120));
  EXPECT_FALSE(inv->wait_feedback);
}

TEST(ArgsTest, PropertyTakesOneValueSoTheBodyMayFollow) {
  auto inv = Parse({"c2d", "send", "d1", "--property", "a=1", "body"});
  ASSERT_TRUE(inv.has_value()) << inv.error().message();
  EXPECT_EQ(inv->message.body, "body");
  EXPECT_EQ(inv->message.properties.size(), 1u);
}

TEST(ArgsTest, EmptyBodyIsAllowed) {
  auto inv = Parse({"c2d", "send", "d1", ""});
  ASSERT_TRUE(inv.has_value()) << inv.error().message();
  EXPECT_EQ(inv->message.body, "");
}

TEST(ArgsTest, BadPropertiesAreUsageErrors) {
  EXPECT_NE(UsageMessage({"c2d", "send", "d1", "b", "--property", "novalue"}).find("KEY=VALUE"),
            std::string::npos);
  EXPECT_NE(UsageMessage({"c2d", "send", "d1", "b", "--property", "=v"}), "");
  EXPECT_NE(UsageMessage({"c2d", "send", "d1", "b", "--property", "a b=v"}), "");
  EXPECT_NE(UsageMessage({"c2d", "send", "d1", "b", "--property", "a:b=v"}), "");
  EXPECT_NE(UsageMessage({"c2d", "send", "d1", "b", "--property", "a=line\nbreak"}), "");
  EXPECT_NE(UsageMessage({"c2d", "send", "d1", "b", "--property", "a=1", "--property", "a=2"})
                .find("twice"),
            std::string::npos);
  EXPECT_NE(UsageMessage({"c2d", "send", "d1", "b", "--message-id", "m\r\n1"}), "");
}

TEST(ArgsTest, AckMustBeKnown) {
  EXPECT_NE(UsageMessage({"c2d", "send", "d1", "b", "--ack", "all"}), "");
}

TEST(ArgsTest, WaitFeedbackAsksForFullAckUnlessToldOtherwise) {
  auto implicit = Parse({"c2d", "send", "d1", "b", "--wait-feedback"});
  ASSERT_TRUE(implicit.has_value()) << implicit.error().message();
  EXPECT_TRUE(implicit->wait_feedback);
  EXPECT_EQ(implicit->message.ack, "full");
  auto negative = Parse({"c2d", "send", "d1", "b", "--wait-feedback", "--ack", "negative"});
  ASSERT_TRUE(negative.has_value());
  EXPECT_EQ(negative->message.ack, "negative");
  EXPECT_NE(UsageMessage({"c2d", "send", "d1", "b", "--wait-feedback", "--ack", "none"}), "");
}

TEST(ArgsTest, TimeoutNeedsSomethingToWaitFor) {
  auto inv = Parse({"c2d", "send", "d1", "b", "--wait-feedback", "--timeout", "2.5"});
  ASSERT_TRUE(inv.has_value()) << inv.error().message();
  EXPECT_EQ(inv->timeout_seconds, std::optional<double>(2.5));
  EXPECT_NE(UsageMessage({"c2d", "send", "d1", "b", "--timeout", "5"}), "");
  EXPECT_NE(UsageMessage({"c2d", "send", "d1", "b", "--wait-feedback", "--timeout", "0"}), "");
  EXPECT_NE(UsageMessage({"feedback", "receive", "--timeout", "5"}), "");
  EXPECT_TRUE(Parse({"feedback", "receive", "--follow", "--timeout", "5"}).has_value());
}

TEST(ArgsTest, TtlMustBePositive) {
  EXPECT_NE(UsageMessage({"c2d", "send", "d1", "b", "--ttl", "0"}), "");
  EXPECT_NE(UsageMessage({"c2d", "send", "d1", "b", "--ttl", "-5"}), "");
  EXPECT_NE(UsageMessage({"c2d", "send", "d1", "b", "--ttl", "soon"}), "");
}

TEST(ArgsTest, PurgeFeedbackMonitorStats) {
  auto purge = Parse({"c2d", "purge", "d1"});
  ASSERT_TRUE(purge.has_value());
  EXPECT_EQ(purge->command, Command::kC2dPurge);
  EXPECT_EQ(purge->device_id, "d1");

  auto feedback = Parse({"feedback", "receive", "--follow"});
  ASSERT_TRUE(feedback.has_value());
  EXPECT_EQ(feedback->command, Command::kFeedbackReceive);
  EXPECT_TRUE(feedback->follow);

  auto monitor = Parse({"monitor", "--device", "d1", "--from", "start", "--count", "3"});
  ASSERT_TRUE(monitor.has_value()) << monitor.error().message();
  EXPECT_EQ(monitor->command, Command::kMonitor);
  EXPECT_EQ(monitor->device_id, "d1");
  EXPECT_EQ(monitor->from, "start");
  EXPECT_EQ(monitor->count, 3u);
  EXPECT_EQ(Parse({"monitor"})->from, "end");
  EXPECT_NE(UsageMessage({"monitor", "--from", "middle"}), "");

  auto stats = Parse({"stats"});
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->command, Command::kStats);
}

TEST(ArgsTest, HelpAndVersionArePrintedNotRun) {
  auto help = Parse({"--help"});
  ASSERT_TRUE(help.has_value());
  ASSERT_TRUE(help->print_and_exit.has_value());
  EXPECT_NE(help->print_and_exit->find("--connection-string"), std::string::npos);
  EXPECT_NE(help->print_and_exit->find("Exit codes"), std::string::npos);

  auto send_help = Parse({"c2d", "send", "--help"});
  ASSERT_TRUE(send_help.has_value());
  ASSERT_TRUE(send_help->print_and_exit.has_value());
  EXPECT_NE(send_help->print_and_exit->find("--wait-feedback"), std::string::npos);

  auto version = Parse({"--version"});
  ASSERT_TRUE(version.has_value());
  EXPECT_EQ(version->print_and_exit, std::optional<std::string>("iothub 0.1.0\n"));
}

}  // namespace
}  // namespace iothub::cli
