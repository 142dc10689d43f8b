#include "amqp/dispatcher.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <string>
#include <vector>

namespace iothub::amqp {
namespace {

// Queues of named messages; Pull takes from the front, as locking does.
class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherTest()
      : dispatcher_([this](const std::string& key, size_t max) {
          std::vector<core::Message> out;
          std::deque<std::string>& queue = queues_[key];
          while (out.size() < max && !queue.empty()) {
            core::Message m;
            m.body = queue.front();
            queue.pop_front();
            out.push_back(std::move(m));
          }
          pulls_.push_back(max);
          return out;
        }) {}

  Dispatcher::Deliver Into(std::vector<std::string>* got) {
    return [got](std::vector<core::Message> messages) {
      for (core::Message& m : messages) got->push_back(m.body);
    };
  }

  std::map<std::string, std::deque<std::string>> queues_;
  std::vector<size_t> pulls_;
  Dispatcher dispatcher_;
};

TEST_F(DispatcherTest, NothingIsPulledWithoutCredit) {
  queues_["d1"] = {"a", "b"};
  std::vector<std::string> got;
  dispatcher_.Attach("d1", 1, Into(&got));
  dispatcher_.OnAvailable("d1");
  EXPECT_TRUE(got.empty());
  EXPECT_TRUE(pulls_.empty());
}

TEST_F(DispatcherTest, CreditBoundsWhatIsPulled) {
  queues_["d1"] = {"a", "b", "c"};
  std::vector<std::string> got;
  dispatcher_.Attach("d1", 1, Into(&got));
  dispatcher_.AddCredit("d1", 1, 2);
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b"}));
  dispatcher_.OnAvailable("d1");  // credit used up: nothing more
  EXPECT_EQ(got.size(), 2u);
  dispatcher_.AddCredit("d1", 1, 5);
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(DispatcherTest, UnusedCreditWaitsForMessages) {
  std::vector<std::string> got;
  dispatcher_.Attach("d1", 1, Into(&got));
  dispatcher_.AddCredit("d1", 1, 3);
  EXPECT_TRUE(got.empty());
  queues_["d1"] = {"a", "b", "c", "d"};
  dispatcher_.OnAvailable("d1");
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(DispatcherTest, QueuesAreSeparate) {
  queues_["d1"] = {"a"};
  queues_["d2"] = {"x"};
  std::vector<std::string> got1, got2;
  dispatcher_.Attach("d1", 1, Into(&got1));
  dispatcher_.Attach("d2", 2, Into(&got2));
  dispatcher_.AddCredit("d1", 1, 10);
  EXPECT_EQ(got1, (std::vector<std::string>{"a"}));
  EXPECT_TRUE(got2.empty());
  dispatcher_.AddCredit("d1", 2, 10);  // link 2 is not a link of d1: ignored
  EXPECT_TRUE(got2.empty());
}

TEST_F(DispatcherTest, TwoLinksOfOneQueueShareIt) {
  std::vector<std::string> got1, got2;
  dispatcher_.Attach("", 1, Into(&got1));
  dispatcher_.Attach("", 2, Into(&got2));
  dispatcher_.AddCredit("", 1, 1);
  dispatcher_.AddCredit("", 2, 1);
  queues_[""] = {"a", "b", "c"};
  dispatcher_.OnAvailable("");
  EXPECT_EQ(got1.size() + got2.size(), 2u);
  EXPECT_EQ(got1.size(), 1u);
  EXPECT_EQ(queues_[""].size(), 1u);
}

TEST_F(DispatcherTest, DetachDropsTheLinkAndItsCredit) {
  std::vector<std::string> got;
  dispatcher_.Attach("d1", 1, Into(&got));
  dispatcher_.AddCredit("d1", 1, 5);
  EXPECT_EQ(dispatcher_.link_count(), 1u);
  dispatcher_.Detach("d1", 1);
  EXPECT_EQ(dispatcher_.link_count(), 0u);
  queues_["d1"] = {"a"};
  dispatcher_.OnAvailable("d1");
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(queues_["d1"].size(), 1u);
}

}  // namespace
}  // namespace iothub::amqp
