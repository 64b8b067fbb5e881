// The HTTP/1.1 listener. The only translation unit that sees Beast and Asio.
// It reads requests under the configured limits, hands each to the Handler on
// one of `threads` I/O threads, and writes the Response. Requests that break a
// limit get a clear JSON error (413, 431, 408, 503), never a hang. Bodies
// can stream both ways (BodySource, BodySink in http.h) in fixed pieces.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "http/http.h"

namespace atelier::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  int threads = 2;
  uint64_t max_body_bytes = 64ull << 20;
  uint32_t max_header_bytes = 16 << 10;
  int read_timeout_ms = 30000;   // to receive one whole request once it started (see max_stream_bytes)
  int idle_timeout_ms = 60000;   // keep-alive connection with no request
  int max_connections = 1024;
  int drain_timeout_ms = 10000;  // graceful stop: time allowed to in-flight requests
  // Optional: decides, from a request's headers, how its body is read (see
  // BodyPlan in http.h). Unset, every body is read into Request::body. A body
  // it accepts is let in with "100 Continue" when the client asked for one.
  HeaderHook header_hook;
  // Limit of a body streamed to a BodySink (0 = none): 5 GiB objects plus a
  // margin. A streamed body times out only when no byte arrives for
  // read_timeout_ms, so a long upload over a slow link is not cut off.
  uint64_t max_stream_bytes = (5ull << 30) + (64ull << 20);
};

class Server {
 public:
  Server(ServerOptions opts, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds; throws std::runtime_error with the reason when it cannot.
  void start();
  uint16_t port() const;  // the bound port (useful with port 0)
  // Blocks until stop() has completed.
  void wait();
  // Stops accepting, lets in-flight requests finish (up to drain_timeout_ms),
  // closes idle connections. Safe from any thread, also from a signal watcher.
  void stop();

 class Impl;  // public so server.cc's session type can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace atelier::http
