// S3 services the unit tests of the S3 object-store backend talk to, each a
// real server process: Atelier's own object endpoint (build/atelier serve
// --obs-listen) and the third-party s3rver (npm, tests/node). A peer starts
// at its first use in a test process, on a free port below 32768, and is
// stopped by its PID when the process exits (or dies: the peer gets SIGTERM
// when the thread that started it ends, so start peers on the main thread).
#pragma once
#include <memory>
#include <string>

#include "obs/object_store.h"
#include "obs/s3_client.h"

namespace atelier::testing {

struct S3Peer {
  std::string name;
  obs::S3Endpoint endpoint;  // where it listens, with a key it accepts
  std::string url;           // s3://127.0.0.1:PORT
  std::string skip;          // why it cannot run here (s3rver not installed); empty when it runs
  std::string log;           // the file its output goes to
};

// `atelier serve` on a data dir of its own, with an access key of its admin
// user made by `atelier admin credential-create`.
const S3Peer& atelier_peer();
// s3rver, when tests/node/node_modules holds it (scripts/deps.sh installs
// it). It checks no signature and keeps no multipart upload listing.
const S3Peer& s3rver_peer();
// A free port below 32768 (the ephemeral range starts above it).
int free_port();
// An s3rver of one test's own, started now on `port` (a test of what a
// client does before a service listens starts one late), over TLS when
// given a key and certificate (PEM files); stopped and its data removed when
// destroyed. Its peer().skip says when s3rver is not installed.
class OwnS3rver {
 public:
  explicit OwnS3rver(int port, const std::string& key = "", const std::string& cert = "");
  ~OwnS3rver();
  const S3Peer& peer() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Removes every object, unfinished upload and bucket the peer's key sees:
// the peer is then a fresh, empty store.
void empty_peer(const S3Peer& p);

}  // namespace atelier::testing
