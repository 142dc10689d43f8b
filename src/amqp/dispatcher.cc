#include "amqp/dispatcher.h"

#include <algorithm>
#include <utility>

namespace iothub::amqp {

std::vector<Dispatcher::Link>* Dispatcher::Find(const std::string& key) {
  auto it = links_.find(key);
  return it == links_.end() ? nullptr : &it->second;
}

void Dispatcher::Attach(const std::string& key, uint64_t link_id, Deliver deliver) {
  links_[key].push_back(Link{.id = link_id, .credit = 0, .deliver = std::move(deliver)});
}

void Dispatcher::Detach(const std::string& key, uint64_t link_id) {
  std::vector<Link>* links = Find(key);
  if (links == nullptr) return;
  std::erase_if(*links, [link_id](const Link& l) { return l.id == link_id; });
  if (links->empty()) links_.erase(key);
}

void Dispatcher::AddCredit(const std::string& key, uint64_t link_id, uint32_t credit) {
  std::vector<Link>* links = Find(key);
  if (links == nullptr) return;
  for (Link& l : *links) {
    if (l.id == link_id) l.credit += credit;
  }
  OnAvailable(key);
}

void Dispatcher::OnAvailable(const std::string& key) {
  std::vector<Link>* links = Find(key);
  if (links == nullptr) return;
  // Serve the links of one queue in turn, starting at a rotating one, so that two receivers of
  // the same queue (two service clients reading feedback) share it.
  size_t n = links->size();
  size_t start = next_++ % n;
  for (size_t i = 0; i < n; ++i) {
    Link& l = (*links)[(start + i) % n];
    if (l.credit == 0) continue;
    std::vector<core::Message> messages = pull_(key, l.credit);
    if (messages.empty()) return;  // the queue has nothing visible left
    l.credit -= std::min<uint64_t>(l.credit, messages.size());
    l.deliver(std::move(messages));
  }
}

size_t Dispatcher::link_count() const {
  size_t n = 0;
  for (const auto& [key, links] : links_) n += links.size();
  return n;
}

}  // namespace iothub::amqp
