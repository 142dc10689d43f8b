// Conformance: tables (get, put, put-if, delete, delete-if, delete-prefix, scan).

#include <string>
#include <vector>

#include "storage/store_conformance.h"

namespace iothub::storage {
namespace {

std::vector<std::string> Keys(const std::vector<TableEntry>& entries) {
  std::vector<std::string> keys;
  for (const auto& e : entries) keys.push_back(e.key);
  return keys;
}

using Strings = std::vector<std::string>;

TEST_P(StoreConformanceTest, GetOfAbsentKeyIsNotFound) {
  auto r = store_->Get("t", "k");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, PutThenGetReturnsValueAndRevision) {
  const uint64_t rev = Put("t", "k", std::string("v\0w", 3));
  EXPECT_GT(rev, 0u);
  auto r = store_->Get("t", "k");
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->key, "k");
  EXPECT_EQ(r->value, std::string("v\0w", 3));
  EXPECT_EQ(r->revision, rev);
}

TEST_P(StoreConformanceTest, RevisionsIncreaseStoreWide) {
  const uint64_t a = Put("t", "k", "1");
  const uint64_t b = Put("t", "k", "2");
  const uint64_t c = Put("other", "x", "3");
  Append("q", "k", "e");
  const uint64_t d = Put("t", "k", "4");
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_LT(c, d);
  EXPECT_EQ(store_->Get("t", "k")->value, "4");
  EXPECT_EQ(store_->Get("t", "k")->revision, d);
}

TEST_P(StoreConformanceTest, TablesAreSeparateNamespaces) {
  // "a"/"bc" and "ab"/"c" must not collide however a backend concatenates name and key.
  Put("a", "bc", "1");
  Put("ab", "c", "2");
  EXPECT_EQ(store_->Get("a", "bc")->value, "1");
  EXPECT_EQ(store_->Get("ab", "c")->value, "2");
  EXPECT_FALSE(store_->Get("a", "b").has_value());
  EXPECT_EQ(Keys(*store_->Scan("a", "", "", 100)), Strings{"bc"});
  EXPECT_EQ(Keys(*store_->Scan("ab", "", "", 100)), Strings{"c"});
}

TEST_P(StoreConformanceTest, PutIfZeroSucceedsOnlyWhenAbsent) {
  WriteBatch first;
  first.PutIf("t", "k", "1", 0);
  auto r = Commit(std::move(first));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_GT(r->revisions_or_ids[0], 0u);

  WriteBatch second;
  second.PutIf("t", "k", "2", 0);
  auto r2 = Commit(std::move(second));
  ASSERT_FALSE(r2.has_value());
  EXPECT_EQ(r2.error().code(), StatusCode::kPreconditionFailed);
  EXPECT_EQ(store_->Get("t", "k")->value, "1");
}

TEST_P(StoreConformanceTest, PutIfWrongRevisionFailsAndKeepsRecord) {
  const uint64_t rev = Put("t", "k", "1");
  for (uint64_t wrong : {rev + 1, rev - 1, uint64_t{0}}) {
    WriteBatch batch;
    batch.PutIf("t", "k", "2", wrong);
    auto r = Commit(std::move(batch));
    ASSERT_FALSE(r.has_value()) << "expected revision " << wrong;
    EXPECT_EQ(r.error().code(), StatusCode::kPreconditionFailed);
  }
  WriteBatch absent;
  absent.PutIf("t", "absent", "2", rev);
  EXPECT_EQ(Commit(std::move(absent)).error().code(), StatusCode::kPreconditionFailed);
  EXPECT_FALSE(store_->Get("t", "absent").has_value());
  auto got = store_->Get("t", "k");
  EXPECT_EQ(got->value, "1");
  EXPECT_EQ(got->revision, rev);
}

TEST_P(StoreConformanceTest, PutIfRightRevisionReplacesWithNewRevision) {
  const uint64_t rev = Put("t", "k", "1");
  WriteBatch batch;
  batch.PutIf("t", "k", "2", rev);
  auto r = Commit(std::move(batch));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_GT(r->revisions_or_ids[0], rev);
  auto got = store_->Get("t", "k");
  EXPECT_EQ(got->value, "2");
  EXPECT_EQ(got->revision, r->revisions_or_ids[0]);
}

TEST_P(StoreConformanceTest, DeleteRemovesRecordAndAbsentDeleteIsOk) {
  Put("t", "k", "1");
  Put("t", "other", "2");
  WriteBatch batch;
  batch.Delete("t", "k");
  batch.Delete("t", "never-there");
  auto r = Commit(std::move(batch));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->revisions_or_ids, (std::vector<uint64_t>{0, 0}));
  EXPECT_EQ(store_->Get("t", "k").error().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Get("t", "other").has_value());
}

TEST_P(StoreConformanceTest, DeleteIfNeedsExistingRecordWithThatRevision) {
  const uint64_t rev = Put("t", "k", "1");
  for (uint64_t wrong : {rev + 1, uint64_t{0}}) {
    WriteBatch batch;
    batch.DeleteIf("t", "k", wrong);
    EXPECT_EQ(Commit(std::move(batch)).error().code(), StatusCode::kPreconditionFailed);
  }
  WriteBatch absent_zero;
  absent_zero.DeleteIf("t", "absent", 0);
  EXPECT_EQ(Commit(std::move(absent_zero)).error().code(), StatusCode::kPreconditionFailed);
  EXPECT_TRUE(store_->Get("t", "k").has_value());

  WriteBatch right;
  right.DeleteIf("t", "k", rev);
  ASSERT_TRUE(Commit(std::move(right)).has_value());
  EXPECT_FALSE(store_->Get("t", "k").has_value());
}

TEST_P(StoreConformanceTest, DeletePrefixRemovesOnlyMatchingKeysOfThatTable) {
  for (const char* k : {"dev/1", "dev/2", "dev/3/x", "dew", "de", "other"}) Put("t", k, k);
  Put("t2", "dev/1", "kept");
  WriteBatch batch;
  batch.DeletePrefix("t", "dev/");
  ASSERT_TRUE(Commit(std::move(batch)).has_value());
  EXPECT_EQ(Keys(*store_->Scan("t", "", "", 100)), (Strings{"de", "dew", "other"}));
  EXPECT_EQ(store_->Get("t2", "dev/1")->value, "kept");
}

TEST_P(StoreConformanceTest, DeletePrefixEmptyClearsTheTable) {
  Put("t", "a", "1");
  Put("t", "b", "2");
  Put("u", "a", "3");
  WriteBatch batch;
  batch.DeletePrefix("t", "");
  ASSERT_TRUE(Commit(std::move(batch)).has_value());
  EXPECT_TRUE(store_->Scan("t", "", "", 100)->empty());
  EXPECT_TRUE(store_->Get("u", "a").has_value());
}

TEST_P(StoreConformanceTest, ScanReturnsPrefixMatchesInKeyOrder) {
  for (const char* k : {"b2", "a", "b10", "b1", "c", "b"}) Put("t", k, std::string("v") + k);
  auto r = store_->Scan("t", "b", "", 100);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(Keys(*r), (Strings{"b", "b1", "b10", "b2"}));
  EXPECT_EQ((*r)[1].value, "vb1");
  EXPECT_EQ((*r)[1].revision, store_->Get("t", "b1")->revision);
  EXPECT_EQ(Keys(*store_->Scan("t", "", "", 100)), (Strings{"a", "b", "b1", "b10", "b2", "c"}));
  EXPECT_TRUE(store_->Scan("t", "d", "", 100)->empty());
  EXPECT_TRUE(store_->Scan("empty-table", "", "", 100)->empty());
}

TEST_P(StoreConformanceTest, ScanPaginatesWithStartAfterAndLimit) {
  for (const char* k : {"p", "p1", "p2", "p3", "p4", "p5", "q"}) Put("t", k, k);
  EXPECT_EQ(Keys(*store_->Scan("t", "p", "", 2)), (Strings{"p", "p1"}));
  EXPECT_EQ(Keys(*store_->Scan("t", "p", "p", 2)), (Strings{"p1", "p2"}));
  EXPECT_EQ(Keys(*store_->Scan("t", "p", "p2", 2)), (Strings{"p3", "p4"}));
  EXPECT_EQ(Keys(*store_->Scan("t", "p", "p4", 2)), (Strings{"p5"}));
  EXPECT_TRUE(store_->Scan("t", "p", "p5", 2)->empty());
  // start_after need not be a stored key, and may sort before the prefix.
  EXPECT_EQ(Keys(*store_->Scan("t", "p", "p25", 10)), (Strings{"p3", "p4", "p5"}));
  EXPECT_EQ(Keys(*store_->Scan("t", "p", "a", 1)), (Strings{"p"}));
  EXPECT_TRUE(store_->Scan("t", "p", "pz", 10)->empty());
  EXPECT_TRUE(store_->Scan("t", "p", "", 0)->empty());
}

TEST_P(StoreConformanceTest, ScanHandlesHighBytePrefixes) {
  const std::string ff = "\xff\xff";
  Put("t", ff, "1");
  Put("t", ff + "a", "2");
  Put("t", "\xff", "3");
  Put("t\xff", "x", "4");
  EXPECT_EQ(Keys(*store_->Scan("t", ff, "", 10)), (Strings{ff, ff + "a"}));
  EXPECT_EQ(Keys(*store_->Scan("t", "\xff", "", 10)), (Strings{"\xff", ff, ff + "a"}));
  EXPECT_EQ(Keys(*store_->Scan("t\xff", "", "", 10)), Strings{"x"});
}

TEST_P(StoreConformanceTest, InvalidTableNamesAndKeysAreRejected) {
  const std::string nul("a\0b", 3);
  EXPECT_EQ(store_->Get("", "k").error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Get("t", "").error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Get(nul, "k").error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Get("t", nul).error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Scan("", "", "", 1).error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Scan("t", nul, "", 1).error().code(), StatusCode::kInvalidArgument);

  std::vector<WriteBatch> bad(6);
  bad[0].Put("", "k", "v");
  bad[1].Put("t", "", "v");
  bad[2].PutIf("t", nul, "v", 0);
  bad[3].Delete(nul, "k");
  bad[4].DeleteIf("t", "", 1);
  bad[5].DeletePrefix("t", nul);
  for (auto& batch : bad) {
    auto r = Commit(std::move(batch));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace iothub::storage
