// The object store on an S3-compatible service (object_store = s3://HOST:PORT):
// every bucket and object of the seam is a bucket and object there, reached
// through s3_client.h with one access key.
//
// What it keeps of the seam (obs/object_store.h), and how:
//  - put and writer(): the content is held in memory up to one part (8 MiB)
//    and sent with one PUT at commit; a larger object goes as a multipart
//    upload of 8 MiB parts, completed at commit and aborted when the writer
//    is destroyed without one. Either way nothing is visible before commit.
//    A put is durable when it returns (the service's promise), so sync()
//    has nothing to do.
//  - get(): a reader fetching ranged GETs of a few MiB as it is read (memory
//    stays bounded, seek() is free); every range after the first asks for
//    the version the reader opened (If-Match), and a reader whose object
//    was replaced meanwhile fails rather than mix two versions.
//  - ETags are the service's: the content's MD5 for an object sent in one
//    PUT, "<hex>-<parts>" for one sent in parts. PutOptions::etag is not
//    recorded (the service names its own), so the ETag of an object this
//    server assembled from a client's parts is what the service says.
//  - Folders are the service's: a folder marker ("dir/") is put as a
//    zero-byte object; on S3 it is an object of its own, listed beside what
//    is under it and kept until removed itself (another Atelier shows it as
//    its local store does).
//  - remove() tells whether the object was there (a HEAD before the DELETE).
//  - Keys that valid_key refuses are left out of listings: no call of the
//    seam could name them.
#pragma once
#include <memory>
#include <string>

#include "obs/object_store.h"
#include "obs/s3_client.h"

namespace atelier::obs {

// The store on the service `e` names. Throws std::runtime_error when the
// endpoint lacks an access key or secret; the service is first asked at the
// first call (an unreachable one makes that call throw ApiError 503).
std::unique_ptr<ObjectStore> open_s3_store(const S3Endpoint& e);
// "s3://HOST[:PORT][/]" (HOST a name, an IPv4 address or [IPv6]); the port
// defaults to 443 with tls, 80 without. Throws std::runtime_error when malformed.
S3Endpoint parse_s3_url(const std::string& url, const RemoteSettings& remote);

}  // namespace atelier::obs
