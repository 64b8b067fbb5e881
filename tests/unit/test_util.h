// Shared helpers for the unit tests (not a test file itself: only *.cc are globbed).
#pragma once
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <optional>
#include <string>

#include "common/error.h"

namespace atelier::testing {

// A fresh directory under /tmp, removed with everything in it on destruction.
class TempDir {
 public:
  // A new folder under `parent` (/tmp unless a test needs another file system).
  explicit TempDir(const std::string& parent = "/tmp") {
    std::string tmpl = parent + "/atelier_unit_XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Runs f and returns the ApiError it threw, or nullopt when it threw none.
template <class F>
std::optional<ApiError> api_error(F&& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return e;
  }
  return std::nullopt;
}

}  // namespace atelier::testing

// Asserts that `stmt` throws ApiError with the given HTTP status and code.
#define EXPECT_API_ERROR(stmt, status_, code_)                                             \
  do {                                                                                     \
    auto err_ = ::atelier::testing::api_error([&] { stmt; });                              \
    if (!err_) {                                                                           \
      ADD_FAILURE() << "expected ApiError " << code_ << " from: " #stmt;                   \
    } else {                                                                               \
      EXPECT_EQ(err_->status(), status_) << err_->what();                                  \
      EXPECT_EQ(err_->code(), code_) << err_->what();                                      \
    }                                                                                      \
  } while (0)
