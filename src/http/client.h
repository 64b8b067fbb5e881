// A small HTTP client (libcurl) for the server's own calls to services it
// started, such as a notebook's Jupyter (readiness and activity probes).
// Requests that people make reach those services through Upstream (http.h),
// streamed by the server itself.
#pragma once
#include <string>

#include "http/http.h"

namespace atelier::http {

// Sends one request to `url` (http only, never through an environment proxy)
// and returns the whole answer. Throws std::runtime_error when the service
// cannot be reached or does not answer within `timeout_ms`.
Response fetch(const std::string& method, const std::string& url, const Headers& headers, const std::string& body = "",
               long timeout_ms = 5000);

}  // namespace atelier::http
