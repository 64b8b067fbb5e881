// What the S3 backend (s3_store.cc) says and reads on the wire, apart from
// the HTTP itself (s3_client.h): how object metadata travels in headers,
// how answers become ObjectInfo, and how the service's refusals become the
// ApiErrors the local store throws for the same cases.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"
#include "http/http.h"
#include "obs/object_store.h"
#include "obs/s3_client.h"

namespace atelier::obs::s3wire {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Checks what a put records, as the local store does (2 KiB of metadata at
// most: MetadataTooLarge), and that it can travel in headers: metadata
// names must be HTTP tokens and the content type printable ASCII (400).
void check_options(const PutOptions& o);
// Content-Type and x-amz-meta-* headers for `o`. A value that is not plain
// printable ASCII (UTF-8, control characters, spaces at either end, which
// HTTP would drop) goes as an RFC 2047 encoded word ("=?UTF-8?B?...?="), the
// form S3 itself answers such values in; meta_value() decodes it.
HeaderList put_headers(const PutOptions& o);
std::string meta_value(std::string_view sent);

// What the answer to a HEAD or GET says of the object `key` (its size is
// the caller's: a ranged GET's Content-Length is the range's). A service's
// default type for content put without one (binary/octet-stream) reads as
// none, as the put gave none.
ObjectInfo info_of(const std::string& key, const http::Headers& h);
// An ETag as the store reports it: without quotes.
std::string unquote(std::string_view etag);
// The time an answer says the object was last modified, to the second
// (Last-Modified; else the answer's Date; else now).
int64_t modified_ms(const http::Headers& h);

// The ApiError for a refusal of `what` (the object or bucket, as the
// message names it): the local store's status and code where it has the
// same failure (404 ModelArts.0015 for a missing bucket, 400 BadDigest,
// MetadataTooLarge, 409 for a name conflict), 503 when the service is
// unavailable or refuses this server's credentials (an operator's matter,
// not the caller's), 500 otherwise. Never names the credentials.
ApiError refusal(const S3Answer& a, const std::string& what, const std::string& where);

}  // namespace atelier::obs::s3wire
