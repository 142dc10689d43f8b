#pragma once

#include <cstddef>
#include <unordered_set>
#include <vector>

namespace iothub::net {

// The connections a protocol endpoint has open on each shard, for its timers and shutdown. A
// connection adds itself when it opens and removes itself when it closes; ForEach visits the
// connections of a shard even if visiting one closes others (it walks a copy and skips the ones
// gone meanwhile).
//
// Thread: shard i's set only on shard i (ForEachAll: while no shard runs, at shutdown).
template <typename Connection>
class ShardConnections {
 public:
  explicit ShardConnections(size_t shard_count) : sets_(shard_count) {}

  void Add(size_t shard, Connection* c) { sets_[shard].insert(c); }
  void Remove(size_t shard, Connection* c) { sets_[shard].erase(c); }
  size_t count(size_t shard) const { return sets_[shard].size(); }

  template <typename Fn>
  void ForEach(size_t shard, Fn fn) {
    std::unordered_set<Connection*>& set = sets_[shard];
    std::vector<Connection*> open(set.begin(), set.end());
    for (Connection* c : open) {
      if (set.contains(c)) fn(*c);
    }
  }
  template <typename Fn>
  void ForEachAll(Fn fn) {
    for (size_t shard = 0; shard < sets_.size(); ++shard) ForEach(shard, fn);
  }

 private:
  std::vector<std::unordered_set<Connection*>> sets_;
};

}  // namespace iothub::net
