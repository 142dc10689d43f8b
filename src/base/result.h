#pragma once

#include <optional>
#include <type_traits>
#include <utility>

#include "base/check.h"
#include "base/status.h"

namespace iothub {

// Result<T>: a T or a non-ok Status. Member names follow std::expected (C++23), which g++ 12 lacks,
// so that switching later is a rename of the type only.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    HUB_CHECK(!status_.ok());
  }

  bool has_value() const { return value_.has_value(); }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    HUB_CHECK(has_value());
    return *value_;
  }
  const T& value() const& {
    HUB_CHECK(has_value());
    return *value_;
  }
  T&& value() && {
    HUB_CHECK(has_value());
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  template <typename U>
  T value_or(U&& fallback) const& {
    return has_value() ? *value_ : static_cast<T>(std::forward<U>(fallback));
  }

  // The error; Status::Ok() when a value is held.
  const Status& error() const { return status_; }
  Status status() const { return status_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace iothub

// `HUB_ASSIGN_OR_RETURN(auto x, Foo());` declares x from Foo()'s value or returns its error.
#define HUB_CONCAT_INNER_(a, b) a##b
#define HUB_CONCAT_(a, b) HUB_CONCAT_INNER_(a, b)
#define HUB_ASSIGN_OR_RETURN(decl, expr)                                                        \
  auto HUB_CONCAT_(hub_result__, __LINE__) = (expr);                                            \
  if (!HUB_CONCAT_(hub_result__, __LINE__)) return HUB_CONCAT_(hub_result__, __LINE__).error(); \
  decl = std::move(HUB_CONCAT_(hub_result__, __LINE__))                                         \
             .value()  // NOLINT(bugprone-macro-parentheses)
