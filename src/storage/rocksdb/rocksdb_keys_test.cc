#include "storage/rocksdb/rocksdb_keys.h"

#include <gtest/gtest.h>

namespace iothub::storage::rocksdb_keys {
namespace {

TEST(RocksDbKeysTest, PrefixSuccessorBoundsEveryExtension) {
  EXPECT_EQ(PrefixSuccessor("ab"), "ac");
  EXPECT_EQ(PrefixSuccessor(std::string("a\xff\xff", 3)), "b");
  EXPECT_EQ(PrefixSuccessor(std::string("a\0", 2)), std::string("a\x01", 2));
  EXPECT_EQ(PrefixSuccessor(""), std::nullopt);
  EXPECT_EQ(PrefixSuccessor("\xff\xff"), std::nullopt);
  const std::string upper = *PrefixSuccessor("a\xfe");
  EXPECT_LT(std::string("a\xfe\xff\xff"), upper);
  EXPECT_GE(std::string("a\xff"), upper);
}

TEST(RocksDbKeysTest, NumbersSortNumerically) {
  EXPECT_LT(QueueKey("q", "k", 255), QueueKey("q", "k", 256));
  EXPECT_LT(QueueKey("q", "k", 1), QueueKey("q", "k", uint64_t{1} << 40));
  EXPECT_LT(LogKey("l", 1, 999), LogKey("l", 2, 0));
  EXPECT_LT(LogKey("l", 0, 255), LogKey("l", 0, 256));
  // Every entry of key "k" sorts before every entry of key "k0" and of key "ka".
  EXPECT_LT(QueueKey("q", "k", UINT64_MAX), QueueKey("q", "k0", 0));
  EXPECT_LT(QueueKey("q", "k", UINT64_MAX), QueueKey("q", "ka", 0));
}

TEST(RocksDbKeysTest, QueueKeyRoundTripsAndRejectsMalformed) {
  std::string_view key;
  uint64_t seq = 0;
  const std::string stored = QueueKey("q", "dev/1", 77);  // `key` points into it
  ASSERT_TRUE(ParseQueueKey("q", stored, &key, &seq));
  EXPECT_EQ(key, "dev/1");
  EXPECT_EQ(seq, 77u);
  EXPECT_FALSE(ParseQueueKey("q", "q", &key, &seq));
  EXPECT_FALSE(ParseQueueKey("q", QueueKeyPrefix("q", "k"), &key, &seq));
  std::string bad = QueueKey("q", "k", 1);
  bad[bad.size() - 9] = 'x';
  EXPECT_FALSE(ParseQueueKey("q", bad, &key, &seq));
}

TEST(RocksDbKeysTest, LogMetaKeyRoundTripsAndRejectsMalformed) {
  std::string log;
  uint32_t partition = 0;
  ASSERT_TRUE(ParseLogMetaKey(LogMetaKey("telemetry", 31), &log, &partition));
  EXPECT_EQ(log, "telemetry");
  EXPECT_EQ(partition, 31u);
  EXPECT_FALSE(ParseLogMetaKey("L", &log, &partition));
  EXPECT_FALSE(ParseLogMetaKey("Xtelemetry", &log, &partition));
  EXPECT_FALSE(ParseLogMetaKey(LogMetaKey("", 1), &log, &partition));
}

TEST(RocksDbKeysTest, ValuesRoundTripAndRejectTruncation) {
  uint64_t revision = 0;
  std::string_view value;
  // `value` views into the encoded bytes: keep them alive while it is read.
  const std::string table_value = EncodeTableValue(5, std::string("a\0b", 3));
  ASSERT_TRUE(DecodeTableValue(table_value, &revision, &value));
  EXPECT_EQ(revision, 5u);
  EXPECT_EQ(value, std::string_view("a\0b", 3));
  EXPECT_FALSE(DecodeTableValue("short", &revision, &value));
  EXPECT_FALSE(DecodeTableValue(EncodeTableValue(0, "x"), &revision, &value));  // never assigned

  Timestamp time;
  const Timestamp t = FromUnixMillis(1'700'000'000'123);
  const std::string log_value = EncodeLogValue(t, "body");
  ASSERT_TRUE(DecodeLogValue(log_value, &time, &value));
  EXPECT_EQ(time, t);
  EXPECT_EQ(value, "body");
  EXPECT_FALSE(DecodeLogValue("1234567", &time, &value));

  LogMeta meta;
  ASSERT_TRUE(DecodeLogMeta(EncodeLogMeta({3, 9, 100}), &meta));
  EXPECT_EQ(meta.first_offset, 3u);
  EXPECT_EQ(meta.next_offset, 9u);
  EXPECT_EQ(meta.bytes, 100u);
  EXPECT_FALSE(DecodeLogMeta(EncodeLogMeta({3, 9, 100}) + "x", &meta));
  EXPECT_FALSE(DecodeLogMeta(EncodeLogMeta({9, 3, 0}), &meta));  // first past next
  uint64_t v = 0;
  EXPECT_FALSE(DecodeFixed64("1234567", &v));
}

}  // namespace
}  // namespace iothub::storage::rocksdb_keys
