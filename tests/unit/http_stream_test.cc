// Streaming request and response bodies through a real http::Server on a
// local port, spoken to with plain sockets so that every byte on the wire is
// the test's own.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "http/http.h"
#include "http/server.h"

using namespace atelier::http;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kBig = (1ull << 30) + 12345;  // 1 GiB and an odd tail

// The bytes of a test body: a function of the offset alone, so either side
// can make them without holding them.
struct Pattern {
  static char at(uint64_t i) { return char((i * 2654435761u) >> 13 ^ (i >> 20)); }
  static void fill(char* buf, size_t n, uint64_t offset) {
    for (size_t k = 0; k < n; ++k) buf[k] = at(offset + k);
  }
};

// An order-sensitive checksum over a byte stream, whatever its pieces.
struct Checksum {
  uint64_t a = 1, b = 0, n = 0;
  void add(const char* p, size_t len) {
    for (size_t k = 0; k < len; ++k) {
      a += uint8_t(p[k]);
      b += a;
    }
    n += len;
  }
  std::string str() const { return std::to_string(a) + ":" + std::to_string(b) + ":" + std::to_string(n); }
};

std::string pattern_checksum(uint64_t len) {
  Checksum c;
  std::vector<char> buf(1 << 20);
  for (uint64_t off = 0; off < len; off += buf.size()) {
    size_t n = size_t(std::min<uint64_t>(buf.size(), len - off));
    Pattern::fill(buf.data(), n, off);
    c.add(buf.data(), n);
  }
  return c.str();
}

long rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// The largest RSS growth seen since construction (sampled by callers).
struct RssWatch {
  long base = rss_kb();
  long peak = base;
  void sample() { peak = std::max(peak, rss_kb()); }
  long growth_mb() const { return (peak - base) / 1024; }
};

// A response body of `len` pattern bytes.
class PatternSource : public BodySource {
 public:
  explicit PatternSource(uint64_t len, RssWatch* rss = nullptr) : len_(len), rss_(rss) {}
  size_t read(char* buf, size_t cap) override {
    size_t n = size_t(std::min<uint64_t>(cap, len_ - off_));
    Pattern::fill(buf, n, off_);
    off_ += n;
    if (rss_ && (off_ & (64 * kMiB - 1)) < n) rss_->sample();
    return n;
  }

 private:
  uint64_t len_, off_ = 0;
  RssWatch* rss_;
};

// Checksums what it is given; answers the checksum.
class ChecksumSink : public BodySink {
 public:
  explicit ChecksumSink(std::atomic<int>* aborts = nullptr, RssWatch* rss = nullptr) : aborts_(aborts), rss_(rss) {}
  void write(const char* p, size_t n) override {
    sum_.add(p, n);
    if (rss_ && (sum_.n & (64 * kMiB - 1)) < n) rss_->sample();
  }
  Response finish() override {
    Response r;
    r.body = sum_.str();
    return r;
  }
  void abort(std::string_view) noexcept override {
    if (aborts_) ++*aborts_;
  }

 private:
  Checksum sum_;
  std::atomic<int>* aborts_;
  RssWatch* rss_;
};

// A blocking client on one connection; every read gives up after 10 s.
class Conn {
 public:
  struct Head {
    int status = 0;
    Headers headers;
  };

  explicit Conn(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("connect failed");
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Conn() { ::close(fd_); }

  // False when the server has closed or reset the connection.
  bool send(std::string_view s) {
    while (!s.empty()) {
      ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      s.remove_prefix(size_t(n));
    }
    return true;
  }

  // Up to `cap` bytes, buffered ones first; 0 at the end of the connection.
  size_t read_some(char* buf, size_t cap) {
    if (!pending_.empty()) {
      size_t n = std::min(cap, pending_.size());
      std::memcpy(buf, pending_.data(), n);
      pending_.erase(0, n);
      return n;
    }
    ssize_t n = ::recv(fd_, buf, cap, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) throw std::runtime_error("read timed out");
    return n < 0 ? 0 : size_t(n);
  }

  bool at_eof() {
    char c;
    return read_some(&c, 1) == 0;
  }

  Head read_head() {
    std::string raw = read_line_block();
    Head h;
    size_t eol = raw.find("\r\n");
    h.status = std::stoi(raw.substr(9, 3));
    for (size_t at = eol + 2; at < raw.size();) {
      size_t end = raw.find("\r\n", at);
      std::string line = raw.substr(at, end - at);
      size_t colon = line.find(':');
      h.headers.add(line.substr(0, colon), line.substr(colon + 2));
      at = end + 2;
    }
    return h;
  }

  // The body of a response with head `h`, piece by piece into `on_bytes`.
  template <class F>
  void read_body(const Head& h, F on_bytes) {
    std::vector<char> buf(256 << 10);
    if (h.headers.has("Content-Length")) {
      uint64_t left = std::stoull(h.headers.get("Content-Length"));
      while (left) {
        size_t n = read_some(buf.data(), size_t(std::min<uint64_t>(left, buf.size())));
        if (n == 0) throw std::runtime_error("body cut short by " + std::to_string(left) + " bytes");
        on_bytes(buf.data(), n);
        left -= n;
      }
    } else if (h.headers.get("Transfer-Encoding") == "chunked") {
      while (uint64_t size = std::stoull(read_line(), nullptr, 16)) {
        for (uint64_t left = size; left;) {
          size_t n = read_some(buf.data(), size_t(std::min<uint64_t>(left, buf.size())));
          if (n == 0) throw std::runtime_error("chunk cut short");
          on_bytes(buf.data(), n);
          left -= n;
        }
        read_line();
      }
      while (!read_line().empty()) {
      }
    }
  }

  std::string read_body(const Head& h) {
    std::string out;
    read_body(h, [&](const char* p, size_t n) { out.append(p, n); });
    return out;
  }

  std::string read_line() {
    for (;;) {
      if (size_t eol = pending_.find("\r\n"); eol != std::string::npos) {
        std::string line = pending_.substr(0, eol);
        pending_.erase(0, eol + 2);
        return line;
      }
      fill();
    }
  }

 private:
  std::string read_line_block() {
    for (;;) {
      if (size_t end = pending_.find("\r\n\r\n"); end != std::string::npos) {
        std::string head = pending_.substr(0, end + 2);
        pending_.erase(0, end + 4);
        return head;
      }
      fill();
    }
  }

  void fill() {
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) throw std::runtime_error("connection ended before a complete head or line");
    pending_.append(buf, size_t(n));
  }

  int fd_;
  std::string pending_;
};

// A Server on a free port below 32768 (above it lie the ephemeral ports
// that the test's own connections use).
std::unique_ptr<Server> start_server(ServerOptions opts, Handler h) {
  for (uint16_t port = 20000 + uint16_t(getpid() % 4000);; ++port) {
    opts.port = port;
    auto s = std::make_unique<Server>(opts, h);
    try {
      s->start();
      return s;
    } catch (const std::runtime_error&) {
      if (port >= 32000) throw;
    }
  }
}

ServerOptions small_timeouts() {
  ServerOptions o;
  o.threads = 1;
  o.read_timeout_ms = 300;
  o.idle_timeout_ms = 5000;
  o.drain_timeout_ms = 1000;
  return o;
}

std::string put_head(const std::string& path, uint64_t len, const std::string& extra = "") {
  return "PUT " + path + " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(len) + "\r\n" + extra + "\r\n";
}

// Sends `len` pattern bytes in pieces of `piece`.
void send_pattern(Conn& c, uint64_t len, size_t piece = 256 << 10) {
  std::vector<char> buf(piece);
  for (uint64_t off = 0; off < len; off += piece) {
    size_t n = size_t(std::min<uint64_t>(piece, len - off));
    Pattern::fill(buf.data(), n, off);
    ASSERT_TRUE(c.send({buf.data(), n})) << "at offset " << off;
  }
}

// Every request to /ok answers "ok"; the hook streams /sink/* to a
// ChecksumSink, refuses /deny/*, and leaves the rest buffered.
struct Fixture {
  std::atomic<int> aborts{0};
  std::atomic<int> handled{0};
  RssWatch* rss = nullptr;
  std::function<std::shared_ptr<BodySink>()> make_sink = [this] { return std::make_shared<ChecksumSink>(&aborts, rss); };
  std::unique_ptr<Server> server;

  explicit Fixture(ServerOptions opts = small_timeouts()) {
    opts.header_hook = [this](Request& req) {
      if (req.path.rfind("/sink/", 0) == 0) return BodyPlan::stream(make_sink());
      if (req.path.rfind("/deny/", 0) == 0) {
        Response r;
        r.status = 403;
        r.body = "denied " + std::to_string(req.body_pending);
        return BodyPlan::refuse(std::move(r));
      }
      req.headers.add("X-Seen-By-Hook", req.request_id);
      return BodyPlan::buffer();
    };
    server = start_server(opts, [this](Request& req) {
      ++handled;
      Response r;
      r.body = req.path == "/echo" ? req.body + "|" + req.headers.get("X-Seen-By-Hook") + "|" + req.request_id : "ok";
      return r;
    });
  }
  uint16_t port() const { return server->port(); }

  // A GET /ok on a new connection answers: the server still serves.
  void expect_serving() const {
    Conn c(port());
    ASSERT_TRUE(c.send("GET /ok HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto h = c.read_head();
    EXPECT_EQ(h.status, 200);
    EXPECT_EQ(c.read_body(h), "ok");
  }
};

}  // namespace

TEST(HttpStreamResponse, GigabyteWithLengthInConstantMemory) {
  RssWatch rss;
  auto server = start_server(small_timeouts(), [&rss](Request& req) {
    Response r;
    r.source = std::make_shared<PatternSource>(kBig, &rss);
    r.content_length = kBig;
    return r;  // HEAD too: the server leaves the body out
  });
  std::string want = pattern_checksum(kBig);
  rss = RssWatch();
  Conn c(server->port());
  auto t0 = Clock::now();
  ASSERT_TRUE(c.send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto h = c.read_head();
  ASSERT_EQ(h.status, 200);
  ASSERT_EQ(h.headers.get("Content-Length"), std::to_string(kBig));
  Checksum got;
  c.read_body(h, [&](const char* p, size_t n) { got.add(p, n); });
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  rss.sample();
  EXPECT_EQ(got.str(), want);
  EXPECT_LT(rss.growth_mb(), 100);
  std::printf("[ streamed 1 GiB response: %.0f MB/s, RSS growth %ld MB ]\n", kBig / 1e6 / secs, rss.growth_mb());
  // The connection stays usable; HEAD sends the headers alone.
  ASSERT_TRUE(c.send("HEAD /big HTTP/1.1\r\nHost: t\r\n\r\nHEAD /big HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(c.read_head().headers.get("Content-Length"), std::to_string(kBig));
  EXPECT_EQ(c.read_head().headers.get("Content-Length"), std::to_string(kBig));
}

TEST(HttpStreamResponse, ChunkedWhenLengthUnknownAndHeadSendsNoBody) {
  const uint64_t len = 5 * kMiB + 7;
  auto server = start_server(small_timeouts(), [len](Request& req) {
    Response r;
    r.source = std::make_shared<PatternSource>(len);
    r.head_only = req.method == "HEAD";
    if (req.path == "/sized") r.content_length = len;
    return r;
  });
  Conn c(server->port());
  ASSERT_TRUE(c.send("GET /chunked HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto h = c.read_head();
  EXPECT_EQ(h.headers.get("Transfer-Encoding"), "chunked");
  EXPECT_FALSE(h.headers.has("Content-Length"));
  Checksum got;
  c.read_body(h, [&](const char* p, size_t n) { got.add(p, n); });
  EXPECT_EQ(got.str(), pattern_checksum(len));
  // HEAD: the headers alone; the next answer follows them directly.
  ASSERT_TRUE(c.send("HEAD /sized HTTP/1.1\r\nHost: t\r\n\r\nGET /sized HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto head = c.read_head();
  EXPECT_EQ(head.headers.get("Content-Length"), std::to_string(len));
  auto get = c.read_head();
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.headers.get("Content-Length"), std::to_string(len));
}

TEST(HttpStreamResponse, FailingSourceGets500OrAbortsTheConnection) {
  struct Failing : BodySource {
    int pieces_before_failure;
    explicit Failing(int n) : pieces_before_failure(n) {}
    size_t read(char* buf, size_t cap) override {
      if (pieces_before_failure-- == 0) throw std::runtime_error("disk gone");
      std::memset(buf, 'x', cap);
      return cap;
    }
  };
  auto server = start_server(small_timeouts(), [](Request& req) {
    Response r;
    r.source = std::make_shared<Failing>(req.path == "/late" ? 2 : 0);
    r.content_length = 100 * kMiB;
    return r;
  });
  {
    Conn c(server->port());
    ASSERT_TRUE(c.send("GET /early HTTP/1.1\r\nHost: t\r\n\r\n"));
    EXPECT_EQ(c.read_head().status, 500);  // nothing sent yet: a proper answer
  }
  {
    Conn c(server->port());
    ASSERT_TRUE(c.send("GET /late HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto h = c.read_head();
    EXPECT_EQ(h.status, 200);
    EXPECT_THROW(c.read_body(h, [](const char*, size_t) {}), std::runtime_error);  // cut short, not hung
  }
}

TEST(HttpStreamRequest, GigabyteUploadToSinkInConstantMemory) {
  RssWatch rss;
  Fixture f;
  f.rss = &rss;
  std::string want = pattern_checksum(kBig);
  rss = RssWatch();
  Conn c(f.port());
  auto t0 = Clock::now();
  ASSERT_TRUE(c.send(put_head("/sink/big", kBig)));
  send_pattern(c, kBig);
  auto h = c.read_head();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  rss.sample();
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(c.read_body(h), want);
  EXPECT_EQ(f.aborts, 0);
  EXPECT_EQ(f.handled, 0);  // the sink answered, not the handler
  EXPECT_LT(rss.growth_mb(), 100);
  std::printf("[ streamed 1 GiB upload: %.0f MB/s, RSS growth %ld MB ]\n", kBig / 1e6 / secs, rss.growth_mb());
}

TEST(HttpStreamRequest, ChunkedUploadToSink) {
  Fixture f;
  Conn c(f.port());
  ASSERT_TRUE(c.send("PUT /sink/c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
  std::vector<char> buf(3 * kMiB);
  Checksum want;
  uint64_t off = 0;
  for (size_t size : {1ul, 1000ul, 3 * kMiB, 65536ul, 17ul}) {
    Pattern::fill(buf.data(), size, off);
    want.add(buf.data(), size);
    off += size;
    char line[32];
    std::snprintf(line, sizeof line, "%zx\r\n", size);
    ASSERT_TRUE(c.send(line));
    ASSERT_TRUE(c.send({buf.data(), size}));
    ASSERT_TRUE(c.send("\r\n"));
  }
  ASSERT_TRUE(c.send("0\r\nX-Trailer: t\r\n\r\n"));
  auto h = c.read_head();
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(c.read_body(h), want.str());
  // Keep-alive: the next request on the same connection is served.
  ASSERT_TRUE(c.send("GET /ok HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(c.read_head().status, 200);
}

TEST(HttpStreamRequest, ExpectContinueOnlyWhenAccepted) {
  Fixture f;
  {
    Conn c(f.port());
    ASSERT_TRUE(c.send(put_head("/sink/e", 5000, "Expect: 100-continue\r\n")));
    EXPECT_EQ(c.read_head().status, 100);
    send_pattern(c, 5000);
    auto h = c.read_head();
    EXPECT_EQ(h.status, 200);
    EXPECT_EQ(c.read_body(h), pattern_checksum(5000));
  }
  {
    Conn c(f.port());  // refused: the answer comes instead of 100 Continue, and the connection ends
    ASSERT_TRUE(c.send(put_head("/deny/e", 5ull << 30, "Expect: 100-continue\r\n")));
    auto h = c.read_head();
    EXPECT_EQ(h.status, 403);
    EXPECT_EQ(c.read_body(h), "denied 1");
    EXPECT_EQ(h.headers.get("Connection"), "close");
    EXPECT_TRUE(c.at_eof());
  }
  {
    Conn c(f.port());  // a buffered body is let in too
    ASSERT_TRUE(c.send("PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"));
    EXPECT_EQ(c.read_head().status, 100);
    ASSERT_TRUE(c.send("abc"));
    auto h = c.read_head();
    EXPECT_EQ(h.status, 200);
    EXPECT_EQ(c.read_body(h).substr(0, 4), "abc|");
  }
  EXPECT_EQ(f.aborts, 0);
}

TEST(HttpStreamRequest, RefusalBeforeTheBodyWithoutExpect) {
  Fixture f;
  {
    Conn c(f.port());  // a large body is never sent: the answer comes from the headers alone
    ASSERT_TRUE(c.send(put_head("/deny/big", 1ull << 30)));
    auto h = c.read_head();
    EXPECT_EQ(h.status, 403);
    EXPECT_EQ(c.read_body(h), "denied 1");
    EXPECT_TRUE(c.at_eof());
  }
  {
    Conn c(f.port());  // a small one is read and dropped, and the connection kept
    ASSERT_TRUE(c.send(put_head("/deny/small", 10) + "0123456789"));
    auto h = c.read_head();
    EXPECT_EQ(h.status, 403);
    EXPECT_EQ(c.read_body(h), "denied 1");
    ASSERT_TRUE(c.send("GET /ok HTTP/1.1\r\nHost: t\r\n\r\n"));
    EXPECT_EQ(c.read_head().status, 200);
  }
  EXPECT_EQ(f.handled, 1);
}

TEST(HttpStreamRequest, BufferedBodyReachesTheHandlerAsTheHookSawIt) {
  Fixture f;
  Conn c(f.port());
  ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"));
  auto h = c.read_head();
  std::string body = c.read_body(h);
  // body|header the hook added|request id: the same Request object.
  ASSERT_EQ(body.substr(0, 4), "abc|");
  std::string seen = body.substr(4, body.find('|', 4) - 4);
  EXPECT_EQ(seen.size(), 32u);
  EXPECT_EQ(body.substr(body.rfind('|') + 1), seen);
}

TEST(HttpStreamRequest, BufferedBodyKeepsItsOwnLimit) {
  ServerOptions o = small_timeouts();
  o.max_body_bytes = 1000;
  Fixture f(o);
  Conn c(f.port());
  ASSERT_TRUE(c.send(put_head("/echo", 1001)));
  auto h = c.read_head();
  EXPECT_EQ(h.status, 413);
  EXPECT_NE(c.read_body(h).find("limit of 1000 bytes"), std::string::npos);
}

TEST(HttpStreamRequest, ThrowingSinkGets500AndTheServerServesOn) {
  Fixture f;
  struct Throwing : ChecksumSink {
    using ChecksumSink::ChecksumSink;
    void write(const char*, size_t) override { throw std::runtime_error("disk full"); }
  };
  f.make_sink = [&f] { return std::make_shared<Throwing>(&f.aborts); };
  Conn c(f.port());
  ASSERT_TRUE(c.send(put_head("/sink/t", 10 * kMiB)));
  send_pattern(c, 1 * kMiB);
  auto h = c.read_head();
  EXPECT_EQ(h.status, 500);
  EXPECT_EQ(f.aborts, 1);
  f.expect_serving();
}

TEST(HttpStreamRequest, StreamLimitGives413) {
  ServerOptions o = small_timeouts();
  o.max_stream_bytes = 100000;
  o.max_body_bytes = 10;  // not the limit of a streamed body
  Fixture f(o);
  {
    Conn c(f.port());  // declared too large: refused before the body
    ASSERT_TRUE(c.send(put_head("/sink/l", 100001)));
    auto h = c.read_head();
    EXPECT_EQ(h.status, 413);
    EXPECT_NE(c.read_body(h).find("limit of 100000 bytes"), std::string::npos);
  }
  {
    Conn c(f.port());  // exactly at the limit passes
    ASSERT_TRUE(c.send(put_head("/sink/l", 100000)));
    send_pattern(c, 100000);
    EXPECT_EQ(c.read_head().status, 200);
  }
  {
    Conn c(f.port());  // chunked: found out on the way
    ASSERT_TRUE(c.send("PUT /sink/l HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
    std::string chunk(60000, 'x');
    for (int i = 0; i < 2; ++i) c.send("ea60\r\n" + chunk + "\r\n");
    auto h = c.read_head();
    EXPECT_EQ(h.status, 413);
  }
  EXPECT_EQ(f.aborts, 2);
  f.expect_serving();
}

TEST(HttpStreamRequest, StalledUploadTimesOutButSlowSteadyOnePasses) {
  Fixture f;  // read_timeout_ms = 300
  {
    Conn c(f.port());
    auto t0 = Clock::now();
    ASSERT_TRUE(c.send(put_head("/sink/s", 10000)));
    send_pattern(c, 4000);
    auto h = c.read_head();
    EXPECT_EQ(h.status, 408);
    EXPECT_LT(Clock::now() - t0, std::chrono::seconds(3));
    EXPECT_EQ(f.aborts, 1);
  }
  {
    Conn c(f.port());  // 20 pieces 100 ms apart: 2 s in all, never 300 ms silent
    const uint64_t len = 20 * 100;
    ASSERT_TRUE(c.send(put_head("/sink/s", len)));
    std::vector<char> buf(len);
    Pattern::fill(buf.data(), len, 0);
    auto t0 = Clock::now();
    for (size_t off = 0; off < len; off += 100) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      ASSERT_TRUE(c.send({buf.data() + off, 100}));
    }
    auto h = c.read_head();
    EXPECT_GT(Clock::now() - t0, std::chrono::milliseconds(1500));
    EXPECT_EQ(h.status, 200);
    EXPECT_EQ(c.read_body(h), pattern_checksum(len));
  }
  EXPECT_EQ(f.aborts, 1);
}

TEST(HttpStreamRequest, StoppingMidUploadAbortsTheSink) {
  ServerOptions o = small_timeouts();
  o.drain_timeout_ms = 100;
  auto f = std::make_unique<Fixture>(o);
  Conn c(f->port());
  ASSERT_TRUE(c.send(put_head("/sink/stop", 10 * kMiB)));
  send_pattern(c, kMiB);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the server has part of the body
  f->server.reset();  // the upload outlives the drain
  EXPECT_EQ(f->aborts, 1);
}
