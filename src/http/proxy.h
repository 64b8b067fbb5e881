// Forwarding a request to a service on this host that the server started
// (a visualization job's tensorboard), over libcurl. The request's own
// credentials (X-Auth-Token, Authorization, the session cookie) are not
// passed on; hop-by-hop headers are dropped both ways. Bodies are buffered:
// what is proxied here are pages and their JSON, not bulk data.
#pragma once
#include <string>

#include "http/http.h"

namespace atelier::http {

// Sends `req` (method, headers, body) to `url`, e.g.
// "http://127.0.0.1:6006/v1/p/visualization-jobs/7/view/data/runs?x=1".
// An upstream that cannot be reached or does not answer in `timeout_ms`
// gives a 502 or 504 ApiError with `code`.
Response forward(const Request& req, const std::string& url, const std::string& code, long timeout_ms = 60000);

}  // namespace atelier::http
