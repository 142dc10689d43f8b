#include "core/c2d/delivery_index.h"

#include <algorithm>

#include "base/check.h"

namespace iothub::core {

bool DeliveryIndex::TimerOrder::operator()(const std::pair<Timestamp, QueuedMessage*>& a,
                                           const std::pair<Timestamp, QueuedMessage*>& b) const {
  // Ties break by (key, seq) so that timers fire in a deterministic, FIFO order.
  if (a.first != b.first) return a.first < b.first;
  if (a.second->key != b.second->key) return a.second->key < b.second->key;
  return a.second->seq < b.second->seq;
}

DeliveryIndex::KeyQueue* DeliveryIndex::FindQueue(std::string_view key) {
  auto it = queues_.find(key);
  return it == queues_.end() ? nullptr : &it->second;
}

QueuedMessage* DeliveryIndex::Insert(QueuedMessage m) {
  HUB_CHECK(m.state != DeliveryState::kRemoving);
  HUB_CHECK((m.state == DeliveryState::kInvisible) == !m.lock_token.empty());
  if (!m.lock_token.empty() && by_token_.contains(m.lock_token)) return nullptr;
  KeyQueue& q = queues_[m.key];
  auto [it, inserted] = q.messages.try_emplace(m.seq, std::move(m));
  if (!inserted) return nullptr;
  QueuedMessage* p = &it->second;
  p->timer_armed = false;
  p->stored.message.sequence_number = p->seq;
  if (p->state == DeliveryState::kEnqueued) q.visible.insert(p->seq);
  if (!p->lock_token.empty()) by_token_.emplace(p->lock_token, p);
  ++size_;
  Rearm(p);
  return p;
}

QueuedMessage* DeliveryIndex::Find(std::string_view key, uint64_t seq) {
  KeyQueue* q = FindQueue(key);
  if (q == nullptr) return nullptr;
  auto it = q->messages.find(seq);
  return it == q->messages.end() ? nullptr : &it->second;
}

QueuedMessage* DeliveryIndex::FindByLockToken(std::string_view token) {
  auto it = by_token_.find(token);
  return it == by_token_.end() ? nullptr : it->second;
}

QueuedMessage* DeliveryIndex::NextVisible(std::string_view key, uint64_t after_seq) {
  KeyQueue* q = FindQueue(key);
  if (q == nullptr) return nullptr;
  auto it = q->visible.upper_bound(after_seq);
  if (it == q->visible.end()) return nullptr;
  return &q->messages.at(*it);
}

std::vector<QueuedMessage*> DeliveryIndex::Messages(std::string_view key) {
  std::vector<QueuedMessage*> out;
  if (KeyQueue* q = FindQueue(key)) {
    out.reserve(q->messages.size());
    for (auto& [seq, m] : q->messages) out.push_back(&m);
  }
  return out;
}

std::vector<std::string> DeliveryIndex::Keys() const {
  std::vector<std::string> out;
  out.reserve(queues_.size());
  for (const auto& [key, q] : queues_) out.push_back(key);
  std::sort(out.begin(), out.end());
  return out;
}

void DeliveryIndex::Lock(QueuedMessage* m, std::string token, Timestamp deadline) {
  HUB_CHECK(m->state == DeliveryState::kEnqueued && !token.empty());
  FindQueue(m->key)->visible.erase(m->seq);
  m->state = DeliveryState::kInvisible;
  m->lock_token = std::move(token);
  m->lock_deadline = deadline;
  by_token_.emplace(m->lock_token, m);
  Rearm(m);
}

void DeliveryIndex::Unlock(QueuedMessage* m) {
  HUB_CHECK(m->state == DeliveryState::kInvisible);
  by_token_.erase(m->lock_token);
  m->lock_token.clear();
  m->lock_deadline = Timestamp();
  m->state = DeliveryState::kEnqueued;
  FindQueue(m->key)->visible.insert(m->seq);
  Rearm(m);
}

void DeliveryIndex::BeginRemoval(QueuedMessage* m) {
  HUB_CHECK(m->state != DeliveryState::kRemoving);
  if (m->state == DeliveryState::kEnqueued) FindQueue(m->key)->visible.erase(m->seq);
  m->state_before_removal = m->state;
  m->state = DeliveryState::kRemoving;
  Disarm(m);
}

void DeliveryIndex::CancelRemoval(QueuedMessage* m, Timestamp retry_at) {
  HUB_CHECK(m->state == DeliveryState::kRemoving);
  m->state = m->state_before_removal;
  if (m->state == DeliveryState::kEnqueued) FindQueue(m->key)->visible.insert(m->seq);
  m->retry_at = retry_at;
  Rearm(m);
}

void DeliveryIndex::Erase(QueuedMessage* m) {
  Disarm(m);
  if (!m->lock_token.empty()) by_token_.erase(m->lock_token);
  auto qit = queues_.find(m->key);
  HUB_CHECK(qit != queues_.end());
  qit->second.visible.erase(m->seq);
  qit->second.messages.erase(m->seq);
  --size_;
  if (qit->second.messages.empty()) queues_.erase(qit);
}

void DeliveryIndex::EraseKey(std::string_view key) {
  auto qit = queues_.find(key);
  if (qit == queues_.end()) return;
  for (auto& [seq, m] : qit->second.messages) {
    Disarm(&m);
    if (!m.lock_token.empty()) by_token_.erase(m.lock_token);
    --size_;
  }
  queues_.erase(qit);
}

size_t DeliveryIndex::Count(std::string_view key) const {
  auto it = queues_.find(key);
  return it == queues_.end() ? 0 : it->second.messages.size();
}

std::optional<Timestamp> DeliveryIndex::NextDeadline() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first;
}

std::vector<std::pair<std::string, uint64_t>> DeliveryIndex::Due(Timestamp now) const {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (const auto& [at, m] : timers_) {
    if (at > now) break;
    out.emplace_back(m->key, m->seq);
  }
  return out;
}

void DeliveryIndex::Rearm(QueuedMessage* m) {
  Disarm(m);
  if (m->state == DeliveryState::kRemoving) return;
  Timestamp at = m->stored.expiry;
  if (m->state == DeliveryState::kInvisible) at = std::min(at, m->lock_deadline);
  at = std::max(at, m->retry_at);
  m->timer_at = at;
  m->timer_armed = true;
  timers_.emplace(at, m);
}

void DeliveryIndex::Disarm(QueuedMessage* m) {
  if (!m->timer_armed) return;
  timers_.erase({m->timer_at, m});
  m->timer_armed = false;
}

}  // namespace iothub::core
