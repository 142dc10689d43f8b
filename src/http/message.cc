#include "http/message.h"

#include <algorithm>
#include <cctype>

#include "base/strings.h"

namespace iothub::http {

bool LessIgnoreCase::operator()(std::string_view a, std::string_view b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) <
           std::tolower(static_cast<unsigned char>(y));
  });
}

std::optional<std::string_view> Request::Header(std::string_view name) const {
  auto it = headers.find(name);
  if (it == headers.end()) return std::nullopt;
  return std::string_view(it->second);
}

std::optional<std::string_view> Request::Query(std::string_view name) const {
  auto it = query.find(std::string(name));
  if (it == query.end()) return std::nullopt;
  return std::string_view(it->second);
}

Status ParseTarget(std::string_view target, Request* request) {
  if (target.empty() || target.front() != '/') {
    return InvalidArgument("request target must start with '/'", "ArgumentInvalid");
  }
  request->target = std::string(target);
  std::string_view path = target;
  std::string_view query;
  if (size_t q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  request->segments.clear();
  request->query.clear();
  request->trailing_slash = path.size() > 1 && path.back() == '/';
  std::vector<std::string_view> pieces = Split(path.substr(1), '/');
  if (!pieces.empty() && pieces.back().empty()) pieces.pop_back();  // "/" or a trailing slash
  for (std::string_view piece : pieces) {
    std::string decoded;
    if (!UrlDecode(piece, &decoded)) {
      return InvalidArgument("malformed escape in request path", "ArgumentInvalid");
    }
    request->segments.push_back(std::move(decoded));
  }
  if (query.empty()) return Status::Ok();
  for (std::string_view pair : Split(query, '&')) {
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key, value;
    if (!UrlDecode(pair.substr(0, eq), &key) ||
        (eq != std::string_view::npos && !UrlDecode(pair.substr(eq + 1), &value))) {
      return InvalidArgument("malformed escape in query string", "ArgumentInvalid");
    }
    request->query.insert_or_assign(std::move(key), std::move(value));
  }
  return Status::Ok();
}

Response JsonResponse(int status, std::string json_body) {
  Response response;
  response.status = status;
  response.headers.emplace("Content-Type", kJsonContentType);
  response.body = std::move(json_body);
  return response;
}

Response EmptyResponse(int status) {
  Response response;
  response.status = status;
  return response;
}

}  // namespace iothub::http
