// ApiError: the one way any layer reports a client-visible failure. The router
// turns it into the error body shape of the route's family (see http/router.h).
#pragma once
#include <stdexcept>
#include <string>

namespace atelier {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string code, std::string message)
      : std::runtime_error(message), status_(status), code_(std::move(code)) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }

 private:
  int status_;
  std::string code_;
};

// The common ModelArts failures, so that every capability words them alike.
inline ApiError bad_request(const std::string& msg) { return {400, "ModelArts.0101", msg}; }
inline ApiError not_found(const std::string& msg) { return {404, "ModelArts.0015", msg}; }
inline ApiError internal_error(const std::string& msg) { return {500, "ModelArts.0010", msg}; }

}  // namespace atelier
