#include "http/server.h"

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <cctype>
#include <limits>
#include <condition_variable>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <thread>

#include "common/ids.h"

namespace atelier::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr size_t kReadChunk = 65536;
// A streamed body passes through one buffer of this size per connection.
constexpr size_t kPiece = 256 << 10;
// A refused request's body up to this size is read and dropped, keeping the
// connection; a larger one (or one of unknown size) closes it instead.
constexpr uint64_t kDrainMax = 64 << 10;
// How long a closing connection keeps reading away a body nobody wants.
constexpr int kLingerMs = 2000;
// Beast throws on a single field of 64 KiB or more; a header or trailer
// limit below that keeps every field under it.
constexpr uint32_t kHeaderCeiling = 65535;

static std::string error_json(const std::string& code, const std::string& msg, const std::string& rid) {
  auto esc = [](const std::string& s) {
    std::string o;
    for (char c : s) {
      if (c == '"' || c == '\\') o.push_back('\\');
      o.push_back(c);
    }
    return o;
  };
  return "{\"error_code\":\"" + code + "\",\"error_msg\":\"" + esc(msg) + "\",\"error_message\":\"" +
         esc(msg) + "\",\"request_id\":\"" + rid + "\"}";
}

class Session;

class Server::Impl {
 public:
  // One io_context per thread, each run by exactly one thread: a connection
  // lives on one of them, so its handlers never hop threads or wake another
  // (the acceptor lives on the first).
  Impl(ServerOptions o, Handler h) : opts(std::move(o)), handler(std::move(h)) {
    for (int i = 0; i < std::max(1, opts.threads); ++i) {
      iocs.push_back(std::make_unique<net::io_context>(1));
      guards.emplace_back(iocs.back()->get_executor());  // run() waits for connections
    }
    acceptor.emplace(*iocs[0]);
  }
  // Connections still open after stop() (past the drain timeout, such as an
  // upload in progress) end when their io_context goes, and tell the server
  // so: that must happen while the rest of it is still there.
  ~Impl() {
    acceptor.reset();
    guards.clear();
    iocs.clear();
  }

  void start();
  void accept();
  void stop();
  void session_closed() {
    std::lock_guard<std::mutex> l(mu);
    --live;
    cv.notify_all();
  }

  ServerOptions opts;
  Handler handler;
  std::vector<std::unique_ptr<net::io_context>> iocs;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
  std::optional<tcp::acceptor> acceptor;
  size_t next_ioc = 0;
  std::vector<std::thread> threads;
  std::atomic<bool> draining{false};
  std::mutex mu;
  std::condition_variable cv;
  int live = 0;
  std::list<std::weak_ptr<Session>> sessions;
  bool stopped = false;
  std::once_flag stop_once;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket s, Server::Impl& srv) : stream_(std::move(s)), timer_(stream_.get_executor()), srv_(srv) {
    // Unparsed bytes never exceed a header plus a read or two: the parser
    // consumes bodies as they come, so only an endless chunk line or trailer
    // can fill the buffer, and that ends the request with 431.
    buffer_.max_size(header_limit() + 2 * kReadChunk);
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);  // once per connection, not per request
    if (!ec) remote_addr_ = ep.address().to_string();
  }
  ~Session() {
    end_sink("the connection ended");
    srv_.session_closed();
  }

  void run() { net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); }); }

  // Called on drain: close when waiting for a new request (or piping a
  // WebSocket, which has no end of its own); busy ones finish first.
  void drain() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->busy_ || self->tunnel_) {
        self->timer_.cancel();
        beast::error_code ec;
        self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        self->stream_.socket().close(ec);
      }
    });
  }

  // Answers a connection over the limit, then closes it.
  void refuse() {
    busy_ = true;
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(bhttp::status::service_unavailable, 11);
    std::string rid = ids::hex32();
    res->set("X-Request-Id", rid);
    res->set(bhttp::field::content_type, "application/json;charset=UTF-8");
    res->set(bhttp::field::retry_after, "1");
    res->body() = error_json("APIGW.0308", "Too many connections; try again shortly.", rid);
    res->keep_alive(false);
    res->prepare_payload();
    stream_.expires_after(std::chrono::seconds(5));
    bhttp::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code, size_t) {
      beast::error_code ec;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    });
  }

 private:
  // Reading is timed by our own ticking timer rather than the stream's
  // expiry, because an expired beast::tcp_stream closes the socket and a
  // stalled request could then not be told 408. An idle connection (nothing
  // of a request received) goes after idle_timeout_ms; a request that has
  // started must be complete within read_timeout_ms (to within one tick),
  // except that a body streamed to a sink restarts that clock with every
  // byte it brings.
  enum class Timeout { kNone, kIdle, kStalled };

  void read() {
    busy_ = false;
    linger_ = false;
    req_.reset();
    refusal_.reset();
    stream_parser_.reset();
    std::vector<char>().swap(piece_);
    if (srv_.draining) return close();
    parser_.emplace();
    // With a header hook the body's limit depends on its decision: none
    // holds for the headers, the chosen one is applied after them.
    parser_->body_limit(srv_.opts.header_hook ? std::numeric_limits<uint64_t>::max() : srv_.opts.max_body_bytes);
    parser_->header_limit(header_limit());
    parser_->on_chunk_header(chunk_header_cb_);
    stream_.expires_never();
    idle_since_ = std::chrono::steady_clock::now();
    started_at_.reset();
    timeout_ = Timeout::kNone;
    arm_timer();
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, size_t) {
                               self->step("read header", [&] { self->on_header(ec); });
                             });
  }

  uint32_t header_limit() const { return std::min(srv_.opts.max_header_bytes, kHeaderCeiling); }
  uint64_t stream_limit() const {
    return srv_.opts.max_stream_bytes ? srv_.opts.max_stream_bytes : std::numeric_limits<uint64_t>::max();
  }

  // The last chunk's callback runs once its whole trailer is buffered: the
  // trailer counts against the header limit.
  void on_chunk_header(std::uint64_t size, beast::string_view ext, beast::error_code& ec) {
    if (size == 0 && trailer_bytes(ext) > header_limit()) ec = bhttp::error::header_limit;
  }

  // Bytes from the end of the last chunk's extensions (a view into buffer_)
  // to the blank line that ends the trailer.
  size_t trailer_bytes(beast::string_view ext) const {
    auto data = buffer_.data();
    const char* begin = static_cast<const char*>(data.data());
    const char* end = begin + data.size();
    const char* from = ext.data() + ext.size();
    if (from < begin || from > end) return data.size();
    std::string_view rest(from, size_t(end - from));
    size_t eom = rest.find("\r\n\r\n");
    return eom == std::string_view::npos ? rest.size() : eom;
  }

  void arm_timer() {
    int tick = std::max(10, std::min({srv_.opts.idle_timeout_ms, srv_.opts.read_timeout_ms, 1000}));
    timer_.expires_after(std::chrono::milliseconds(tick));
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->step("timer", [&] { self->on_tick(); });
    });
  }

  void on_tick() {
    auto now = std::chrono::steady_clock::now();
    if (!started_at_ && buffer_.size() > 0) started_at_ = now;
    if (!started_at_ && now - idle_since_ >= std::chrono::milliseconds(srv_.opts.idle_timeout_ms)) {
      timeout_ = Timeout::kIdle;
    } else if (started_at_ && now - *started_at_ >= std::chrono::milliseconds(srv_.opts.read_timeout_ms)) {
      timeout_ = Timeout::kStalled;
    } else {
      return arm_timer();
    }
    beast::error_code ec;
    stream_.socket().cancel(ec);  // the pending read completes with operation_aborted
  }

  // Runs one step of the connection: an exception ends this connection
  // alone (logged), never the I/O thread.
  template <class F>
  void step(const char* what, F&& f) noexcept {
    try {
      f();
    } catch (const std::exception& e) {
      spdlog::error("connection from {}: {} failed: {}", remote_addr_, what, e.what());
      abort_connection();
    } catch (...) {
      spdlog::error("connection from {}: {} failed: unknown exception", remote_addr_, what);
      abort_connection();
    }
  }

  void abort_connection() noexcept {
    end_sink("the connection was aborted");
    beast::error_code ec;
    try {
      timer_.cancel();
    } catch (...) {
    }
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  // The router answers a handler's failures itself; whatever still escapes
  // is a 500 for this request alone.
  Response handle(Request& req) {
    try {
      return srv_.handler(req);
    } catch (const std::exception& e) {
      spdlog::error("request {} failed outside the router: {}", req.request_id, e.what());
    } catch (...) {
      spdlog::error("request {} failed outside the router: unknown exception", req.request_id);
    }
    return internal_error(req.request_id);
  }

  static Response internal_error(const std::string& rid) {
    Response out;
    out.status = 500;
    out.headers.add("Content-Type", "application/json;charset=UTF-8");
    out.body = error_json("ModelArts.0010", "An internal error occurred; see the server log for request " + rid, rid);
    return out;
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read_error(ec, srv_.opts.max_body_bytes);
    busy_ = true;
    if (!started_at_) started_at_ = std::chrono::steady_clock::now();
    if (srv_.opts.header_hook) return plan_body();
    read_buffered_body();
  }

  void read_buffered_body() {
    // Beast reads at most the buffer's free capacity (at least 512 bytes) a
    // call: a large body gets a large buffer, given back once it is read.
    if (auto n = parser_->content_length(); n && *n > 16384) buffer_.reserve(kReadChunk);
    bhttp::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->step("read body", [&] { self->on_read(ec); });
    });
  }

  // ---- the header hook (ServerOptions::header_hook)

  // Asks the hook how this request's body is read, then reads it that way:
  // buffered, streamed to a sink, or not at all (refused).
  void plan_body() {
    req_ = make_request(parser_->get());
    BodyPlan plan = absolute_path(*req_) ? ask_hook(*req_) : BodyPlan::buffer();  // else answered 400 once read
    if (plan.refusal) return refuse_body(std::move(*plan.refusal));
    uint64_t limit = plan.sink ? stream_limit() : srv_.opts.max_body_bytes;
    if (auto n = parser_->content_length(); n && *n > limit) {
      if (plan.sink) plan.sink->abort("the body is over the limit");
      linger_ = true;  // the body was not read
      return on_read_error(bhttp::error::body_limit, limit);
    }
    if (plan.sink) return start_stream(std::move(plan.sink));
    parser_->body_limit(limit);  // no chunk counted yet: the whole body is under it
    continue_then([self = shared_from_this()] { self->read_buffered_body(); });
  }

  BodyPlan ask_hook(Request& req) {
    req.body_pending = true;
    BodyPlan plan;
    try {
      plan = srv_.opts.header_hook(req);
    } catch (const std::exception& e) {
      spdlog::error("request {} failed in the header hook: {}", req.request_id, e.what());
      plan = BodyPlan::refuse(internal_error(req.request_id));
    }
    req.body_pending = false;
    return plan;
  }

  // Answers `out` without the body: a small one is read and dropped to keep
  // the connection, else the connection closes after the answer.
  void refuse_body(Response out) {
    auto n = parser_->content_length();
    if (parser_->is_done() || (!expects_continue(*req_) && n && *n <= kDrainMax)) {
      refusal_ = std::move(out);
      return read_buffered_body();  // on_read answers refusal_
    }
    timer_.cancel();
    linger_ = true;
    unsigned version = parser_->get().version();
    send(std::move(*req_), std::move(out), false, version);
  }

  static bool expects_continue(const Request& req) { return beast::iequals(req.headers.get("Expect"), "100-continue"); }

  // Runs `next` (which reads the body), first letting the body in with
  // "100 Continue" when the client waits for one.
  template <class F>
  void continue_then(F next) {
    bool done = stream_parser_ ? stream_parser_->is_done() : parser_->is_done();
    if (done || !expects_continue(*req_)) return next();
    static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    net::async_write(stream_, net::buffer(kContinue), [self = shared_from_this(), next](beast::error_code ec, size_t) {
      self->step("write 100 Continue", [&] {
        if (ec) return self->close();
        next();
      });
    });
  }

  // ---- request bodies streamed to a BodySink

  void start_stream(std::shared_ptr<BodySink> sink) {
    sink_ = std::move(sink);
    stream_parser_.emplace(std::move(*parser_));
    stream_parser_->body_limit(stream_limit());
    piece_.resize(kPiece);
    buffer_.reserve(kReadChunk);
    continue_then([self = shared_from_this()] { self->read_stream_piece(); });
  }

  // Reads what the socket has (not a whole piece: a slow sender's every byte
  // must count as activity for the timeout) into piece_.
  void read_stream_piece() {
    auto& body = stream_parser_->get().body();
    body.data = piece_.data();
    body.size = piece_.size();
    if (stream_parser_->is_done()) return on_stream_piece({}, 0);
    bhttp::async_read_some(stream_, buffer_, *stream_parser_, [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->step("read body", [&] { self->on_stream_piece(ec, n); });
    });
  }

  void on_stream_piece(beast::error_code ec, size_t consumed) {
    if (ec == bhttp::error::need_buffer) ec = {};
    if (consumed) started_at_ = std::chrono::steady_clock::now();
    if (ec) {
      end_sink(ec == net::error::operation_aborted ? "the body stalled" : ec.message());
      linger_ = true;
      return on_read_error(ec, stream_limit());
    }
    if (size_t got = piece_.size() - stream_parser_->get().body().size) {
      try {
        sink_->write(piece_.data(), got);
      } catch (const std::exception& e) {
        return sink_failed(e.what());
      }
    }
    if (!stream_parser_->is_done()) return read_stream_piece();
    finish_stream();
  }

  void finish_stream() {
    timer_.cancel();
    auto sink = std::move(sink_);
    bool keep_alive = stream_parser_->keep_alive() && !srv_.draining;
    unsigned version = stream_parser_->get().version();
    Response out;
    try {
      out = sink->finish();
    } catch (const std::exception& e) {
      spdlog::error("request {}: the body's sink failed to finish: {}", req_->request_id, e.what());
      out = internal_error(req_->request_id);
    }
    send(std::move(*req_), std::move(out), keep_alive, version);
  }

  // A sink that refuses the rest of the body: its refusal (else a 500), and the connection closes
  // (the rest of the body is still on its way).
  void sink_failed(const std::string& what) {
    std::optional<Response> out;
    try {
      out = sink_->refused();
    } catch (const std::exception&) {
    }
    if (!out) spdlog::error("request {}: the body's sink failed: {}", req_->request_id, what);
    end_sink(what);
    timer_.cancel();
    linger_ = true;
    unsigned version = stream_parser_->get().version();
    auto rid = req_->request_id;
    send(std::move(*req_), out ? std::move(*out) : internal_error(rid), false, version);
  }

  // Tells the sink, if any, that its body will not come whole.
  void end_sink(std::string_view why) noexcept {
    if (auto sink = std::move(sink_)) sink->abort(why);
  }

  void on_read_error(beast::error_code ec, uint64_t body_limit) {
    timer_.cancel();
    if (timeout_ == Timeout::kStalled)
      return reply_error(bhttp::status::request_timeout, "ModelArts.6100",
                         "The request was not received in time.");
    if (ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset || ec == net::error::eof || timeout_ == Timeout::kIdle)
      return close();
    if (ec == bhttp::error::body_limit)
      return reply_error(bhttp::status::payload_too_large, "APIGW.0201",
                         "Request body exceeds the limit of " + std::to_string(body_limit) + " bytes.");
    if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow)
      return reply_error(bhttp::status::request_header_fields_too_large, "APIGW.0202",
                         "Request header or trailer exceeds the limit of " +
                             std::to_string(header_limit()) + " bytes.");
    return reply_error(bhttp::status::bad_request, "APIGW.0203", "Malformed HTTP request: " + ec.message());
  }

  void reply_error(bhttp::status st, const std::string& code, const std::string& msg) {
    busy_ = true;
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(st, 11);
    std::string rid = ids::hex32();
    res->set("X-Request-Id", rid);
    res->set(bhttp::field::content_type, "application/json;charset=UTF-8");
    res->body() = error_json(code, msg, rid);
    res->keep_alive(false);
    res->prepare_payload();
    spdlog::info(R"({{"event":"access","method":"-","route":"-","status":{},"ms":0,"request_id":"{}","user":"-","error":"{}"}})",
                 int(st), rid, code);
    stream_.expires_after(std::chrono::seconds(5));
    bhttp::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code, size_t) {
      self->close();
    });
  }

  void on_read(beast::error_code ec) {
    if (ec) return on_read_error(ec, srv_.opts.max_body_bytes);
    timer_.cancel();
    if (buffer_.capacity() > 16384 && buffer_.size() == 0) buffer_.shrink_to_fit();
    auto msg = parser_->release();
    Request req = req_ ? std::move(*req_) : make_request(msg);
    req.body = std::move(msg.body());
    bool keep_alive = msg.keep_alive() && !srv_.draining;
    Response out = refusal_ ? std::move(*refusal_) : answer(req);
    send(std::move(req), std::move(out), keep_alive, msg.version());
  }

  Request make_request(const bhttp::request_header<>& msg) const {
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    size_t q = req.target.find('?');
    req.path = req.target.substr(0, q);
    if (q != std::string::npos) req.raw_query = req.target.substr(q + 1);
    for (auto& f : msg) req.headers.add(std::string(f.name_string()), std::string(f.value()));
    req.remote_addr = remote_addr_;
    req.request_id = ids::hex32();
    return req;
  }

  static bool absolute_path(const Request& req) { return !req.path.empty() && req.path[0] == '/'; }

  Response answer(Request& req) {
    if (absolute_path(req)) return handle(req);
    Response out;
    out.status = 400;
    out.headers.add("Content-Type", "application/json;charset=UTF-8");
    out.body = error_json("APIGW.0203", "The request target must be an absolute path.", req.request_id);
    spdlog::info(R"({{"event":"access","method":"{}","route":"-","status":400,"ms":0,"request_id":"{}","user":"-","error":"APIGW.0203"}})",
                 req.method, req.request_id);
    return out;
  }

  // Writes `out` (or relays it to its Upstream), then reads the next request
  // unless the connection is to end.
  void send(Request req, Response out, bool keep_alive, unsigned version) {
    if (out.upstream) {
      net::co_spawn(stream_.get_executor(), relay(shared_from_this(), std::move(req), out.upstream, keep_alive, version),
                    [self = shared_from_this()](std::exception_ptr e) { self->relay_ended(e); });
      return;
    }
    if (out.source) {
      out.head_only = out.head_only || req.method == "HEAD";  // never a body the client will not read
      return send_streamed(req.request_id, std::move(out), keep_alive, version);
    }
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>();
    set_head(*res, out, req.request_id, keep_alive, version);
    if (out.status == 204 || out.status == 304) {
      // No body and, per RFC 9110, no Content-Length either.
    } else if (out.head_only) {
      res->content_length(out.content_length ? *out.content_length : out.body.size());
    } else {
      res->body() = std::move(out.body);
      res->prepare_payload();
    }
    stream_.expires_after(std::chrono::milliseconds(srv_.opts.read_timeout_ms));
    auto done = [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
      self->step("write", [&] { self->sent(ec, keep_alive); });
    };
    if (out.head_only) {
      // Headers only: serialize the header part, skip the body.
      auto sr = std::make_shared<bhttp::response_serializer<bhttp::string_body>>(*res);
      bhttp::async_write_header(stream_, *sr, [sr, done](beast::error_code ec, size_t n) { done(ec, n); });
    } else {
      bhttp::async_write(stream_, *res, done);
    }
  }

  template <class Body>
  static void set_head(bhttp::response<Body>& res, const Response& out, const std::string& rid, bool keep_alive,
                       unsigned version) {
    res.result(static_cast<bhttp::status>(out.status));
    res.version(version);
    for (auto& [k, v] : out.headers.items()) res.insert(k, v);
    res.set("X-Request-Id", rid);
    res.keep_alive(keep_alive);
  }

  void sent(beast::error_code ec, bool keep_alive) {
    if (ec || !keep_alive) return close();
    read();
  }

  // ---- response bodies from a BodySource

  struct Outgoing {
    bhttp::response<bhttp::buffer_body> res;
    std::optional<bhttp::response_serializer<bhttp::buffer_body>> sr;
    std::shared_ptr<BodySource> source;
    std::optional<uint64_t> left;  // bytes still owed under Content-Length
    bool keep_alive = false;
  };

  // Sends the headers, then the source's body a piece at a time. Its first
  // piece is read before the headers go, so a source that fails at once
  // still gets a 500 answer.
  void send_streamed(const std::string& rid, Response out, bool keep_alive, unsigned version) {
    auto o = std::make_shared<Outgoing>();
    set_head(o->res, out, rid, keep_alive, version);
    o->keep_alive = keep_alive;
    bool bodiless = out.status == 204 || out.status == 304;
    if (out.content_length && !bodiless) o->res.content_length(*out.content_length);
    else if (!bodiless) o->res.chunked(true);
    o->sr.emplace(o->res);
    stream_.expires_after(std::chrono::milliseconds(srv_.opts.read_timeout_ms));
    if (out.head_only || bodiless) {
      return bhttp::async_write_header(stream_, *o->sr, [self = shared_from_this(), o](beast::error_code ec, size_t) {
        self->step("write", [&] { self->sent(ec, o->keep_alive); });
      });
    }
    o->source = std::move(out.source);
    o->left = out.content_length;
    piece_.resize(kPiece);
    size_t n;
    try {
      n = pull(*o);
    } catch (const std::exception& e) {
      spdlog::error("request {}: the response body failed before its headers: {}", rid, e.what());
      Request req;
      req.request_id = rid;
      return send(std::move(req), internal_error(rid), keep_alive, version);
    }
    send_piece(o, n);
  }

  // The next piece of the body into piece_; throws when the source fails or
  // ends short of its Content-Length.
  size_t pull(Outgoing& o) {
    size_t cap = o.left ? size_t(std::min<uint64_t>(piece_.size(), *o.left)) : piece_.size();
    if (cap == 0) return 0;
    size_t n = o.source->read(piece_.data(), cap);
    if (n > cap) throw std::runtime_error("the body source returned more than asked for");
    if (o.left) {
      if (n == 0) throw std::runtime_error("the body source ended " + std::to_string(*o.left) + " bytes early");
      *o.left -= n;
    }
    return n;
  }

  // Writes `n` bytes of piece_ (0: the end of a chunked body); each write
  // has read_timeout_ms, so a slow reader is cut off only when it stalls.
  void send_piece(std::shared_ptr<Outgoing> o, size_t n) {
    auto& body = o->res.body();
    body.data = n ? piece_.data() : nullptr;
    body.size = n;
    body.more = o->left ? *o->left > 0 : n > 0;
    stream_.expires_after(std::chrono::milliseconds(srv_.opts.read_timeout_ms));
    bhttp::async_write(stream_, *o->sr, [self = shared_from_this(), o](beast::error_code ec, size_t) {
      self->step("write body", [&] {
        if (ec == bhttp::error::need_buffer) ec = {};
        if (ec || o->sr->is_done()) return self->sent(ec, o->keep_alive);
        self->send_piece(o, self->pull(*o));
      });
    });
  }

  // ---- relaying to an Upstream (http.h)

  void relay_ended(std::exception_ptr e) noexcept {
    if (e) step("relay", [&] { std::rethrow_exception(e); });
  }

  static bool hop_by_hop(beast::string_view name) {
    for (const char* h : {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
                          "content-length", "expect", "host"})
      if (beast::iequals(name, h)) return true;
    return false;
  }

  static bool wants_upgrade(const Request& req) {
    if (req.headers.get("Upgrade").empty()) return false;
    std::string conn = req.headers.get("Connection");
    for (auto& c : conn) c = char(std::tolower(static_cast<unsigned char>(c)));
    return conn.find("upgrade") != std::string::npos;
  }

  net::awaitable<void> relay_error(int status, const std::string& code, const std::string& msg, const std::string& rid) {
    beast::error_code ec;
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), 11};
    res.set("X-Request-Id", rid);
    res.set(bhttp::field::content_type, "application/json;charset=UTF-8");
    res.body() = error_json(code, msg, rid);
    res.keep_alive(false);
    res.prepare_payload();
    stream_.expires_after(std::chrono::seconds(5));
    co_await bhttp::async_write(stream_, res, net::redirect_error(net::use_awaitable, ec));
    close();
  }

  // Copies bytes from one side to the other until either side ends, then
  // ends both (a WebSocket after the upgrade). `pending`: bytes already read
  // past the HTTP head.
  static net::awaitable<void> pipe(std::shared_ptr<Session> self, beast::tcp_stream& from, beast::flat_buffer& pending,
                                   beast::tcp_stream& to, std::shared_ptr<beast::tcp_stream> keep,
                                   std::shared_ptr<const Upstream> up) {
    beast::error_code ec;
    auto tok = net::redirect_error(net::use_awaitable, ec);
    if (pending.size()) {
      co_await net::async_write(to, pending.data(), tok);
      pending.consume(pending.size());
    }
    std::vector<char> buf(16384);
    while (!ec) {
      size_t n = co_await from.async_read_some(net::buffer(buf), tok);
      if (ec) break;
      co_await net::async_write(to, net::buffer(buf.data(), n), tok);
      if (up->on_traffic) up->on_traffic();
    }
    beast::error_code ignored;
    from.socket().shutdown(tcp::socket::shutdown_both, ignored);
    to.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  // Connects `ups` to the service within 5 s (a name is resolved on the
  // resolver's own thread; an address needs none); `ec` says whether it failed.
  static net::awaitable<void> connect_upstream(beast::tcp_stream& ups, const Upstream& up, beast::error_code& ec) {
    auto ex = co_await net::this_coro::executor;
    auto tok = net::redirect_error(net::use_awaitable, ec);
    beast::error_code bad;
    auto addr = net::ip::make_address(up.host, bad);
    ups.expires_after(std::chrono::seconds(5));
    if (!bad) {
      co_await ups.async_connect(tcp::endpoint(addr, up.port), tok);
    } else {
      tcp::resolver resolver(ex);
      auto eps = co_await resolver.async_resolve(up.host, std::to_string(up.port), tok);
      if (!ec) co_await ups.async_connect(eps, tok);
    }
  }

  // The request as the service gets it: the upstream's target and headers,
  // the client's Host and body, and either the upgrade asked for or one
  // request per connection.
  static bhttp::request<bhttp::string_body> upstream_request(Request& req, const Upstream& up, bool upgrade) {
    bhttp::request<bhttp::string_body> out;
    out.method_string(req.method);
    out.target(up.target);
    out.version(11);
    for (auto& [k, v] : up.headers.items())
      if (!hop_by_hop(k)) out.insert(k, v);
    out.set(bhttp::field::host, req.headers.get("Host"));  // the service builds its links from it
    if (upgrade) {
      out.set(bhttp::field::connection, "Upgrade");
      out.set(bhttp::field::upgrade, req.headers.get("Upgrade"));
    } else {
      out.keep_alive(false);  // one request per connection to the service
    }
    out.body() = std::move(req.body);
    out.prepare_payload();
    return out;
  }

  net::awaitable<void> relay(std::shared_ptr<Session> self, Request req, std::shared_ptr<const Upstream> up, bool keep_alive,
                             unsigned version) {
    busy_ = true;
    auto ex = co_await net::this_coro::executor;
    beast::error_code ec;
    auto tok = net::redirect_error(net::use_awaitable, ec);
    const bool upgrade = wants_upgrade(req);
    auto ups = std::make_shared<beast::tcp_stream>(ex);
    co_await connect_upstream(*ups, *up, ec);
    if (ec) {
      co_await relay_error(502, up->error_code, "The service behind this address cannot be reached: " + ec.message(),
                           req.request_id);
      co_return;
    }
    ups->socket().set_option(tcp::no_delay(true), ec);
    auto out = upstream_request(req, *up, upgrade);
    ups->expires_after(std::chrono::seconds(60));
    co_await bhttp::async_write(*ups, out, tok);
    beast::flat_buffer ubuf;
    ubuf.reserve(kReadChunk);  // Beast reads as much as the buffer's capacity: else 512 bytes a call
    bhttp::response_parser<bhttp::buffer_body> p;
    p.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (req.method == "HEAD") p.skip(true);
    if (!ec) {
      ups->expires_after(std::chrono::seconds(300));
      co_await bhttp::async_read_header(*ups, ubuf, p, tok);
    }
    if (ec) {
      bool late = ec == beast::error::timeout;
      co_await relay_error(late ? 504 : 502, up->error_code,
                           late ? "The service behind this address did not answer in time."
                                : "The service behind this address failed: " + ec.message(),
                           req.request_id);
      co_return;
    }
    if (up->on_traffic) up->on_traffic();
    auto& res = p.get();
    if (upgrade && res.result() == bhttp::status::switching_protocols) {
      bhttp::response<bhttp::empty_body> head{res.result(), version};
      for (auto& f : res) head.insert(f.name_string(), f.value());
      head.set("X-Request-Id", req.request_id);
      stream_.expires_never();
      ups->expires_never();
      co_await bhttp::async_write(stream_, head, tok);
      if (ec) co_return close();
      tunnel_ = true;
      net::co_spawn(ex, pipe(self, stream_, buffer_, *ups, ups, up), net::detached);
      co_await pipe(self, *ups, ubuf, stream_, ups, up);
      co_return;
    }
    co_await relay_response(*ups, ubuf, p, keep_alive, version, req.request_id, *up);
  }

  // Streams the service's response, its head read into `p`, to the client a
  // buffer at a time, then reads the client's next request -- unless either
  // side ends the connection (a body that ends with the service's connection
  // ends the client's too).
  net::awaitable<void> relay_response(beast::tcp_stream& ups, beast::flat_buffer& ubuf,
                                      bhttp::response_parser<bhttp::buffer_body>& p, bool keep_alive, unsigned version,
                                      const std::string& request_id, const Upstream& up) {
    beast::error_code ec;
    auto tok = net::redirect_error(net::use_awaitable, ec);
    auto& res = p.get();
    for (auto f : {bhttp::field::connection, bhttp::field::keep_alive, bhttp::field::proxy_connection, bhttp::field::te,
                   bhttp::field::trailer, bhttp::field::upgrade})
      res.erase(f);
    // A body that ends with the connection (no length, not chunked) ends ours too.
    if (!p.is_done() && !res.has_content_length() && !res.chunked()) keep_alive = false;
    res.version(version);
    res.keep_alive(keep_alive);
    res.set("X-Request-Id", request_id);
    bhttp::response_serializer<bhttp::buffer_body> sr{res};
    std::vector<char> buf(65536);
    do {
      if (!p.is_done()) {
        res.body().data = buf.data();
        res.body().size = buf.size();
        ups.expires_after(std::chrono::seconds(300));  // per read: a long download is not a stalled one
        co_await bhttp::async_read(ups, ubuf, p, tok);
        if (ec == bhttp::error::need_buffer) ec = {};
        if (ec) co_return close();  // cut off mid-body: the client sees the connection end
        res.body().size = buf.size() - res.body().size;
        res.body().data = buf.data();
        res.body().more = !p.is_done();
      } else {  // nothing (more) to read: a 304 or 204, say, or the end
        res.body().data = nullptr;
        res.body().size = 0;
        res.body().more = false;
      }
      stream_.expires_after(std::chrono::seconds(300));
      co_await bhttp::async_write(stream_, sr, tok);
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) co_return close();
      if (up.on_traffic) up.on_traffic();
    } while (!p.is_done() && !sr.is_done());
    if (!keep_alive) co_return close();
    read();
  }

  void close() {
    end_sink("the connection closed");
    timer_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (linger_) linger(std::make_shared<std::array<char, 16384>>());
  }

  // Reads away, for up to kLingerMs, a body that went unread: closing a
  // socket with unread bytes resets the connection, and the client could
  // lose the answer it was sent.
  void linger(std::shared_ptr<std::array<char, 16384>> buf) {
    linger_ = false;
    stream_.expires_after(std::chrono::milliseconds(kLingerMs));
    discard(std::move(buf));
  }

  void discard(std::shared_ptr<std::array<char, 16384>> buf) {
    stream_.async_read_some(net::buffer(*buf), [self = shared_from_this(), buf](beast::error_code ec, size_t) {
      if (!ec) self->discard(buf);
    });
  }

  beast::tcp_stream stream_;
  net::steady_timer timer_;
  std::chrono::steady_clock::time_point idle_since_;
  std::optional<std::chrono::steady_clock::time_point> started_at_;
  Timeout timeout_ = Timeout::kNone;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::request_parser<bhttp::buffer_body>> stream_parser_;  // a body going to sink_
  std::optional<Request> req_;          // as the header hook saw it
  std::optional<Response> refusal_;     // the hook's answer, sent once the small body is read
  std::shared_ptr<BodySink> sink_;      // until it is finished or aborted
  std::vector<char> piece_;             // kPiece bytes while a body streams either way
  bool linger_ = false;                 // an unread body may follow: read it away when closing
  std::function<void(std::uint64_t, beast::string_view, beast::error_code&)> chunk_header_cb_ =
      [this](std::uint64_t size, beast::string_view ext, beast::error_code& ec) { on_chunk_header(size, ext, ec); };
  Server::Impl& srv_;
  std::string remote_addr_;
  bool busy_ = false;
  bool tunnel_ = false;  // piping a WebSocket to an Upstream
};

// Runs an I/O thread until the server stops. An exception that escapes a
// handler inside a library operation (the sessions catch their own) has
// destroyed that handler and with it its connection: the thread goes on.
static void run_io(net::io_context& io) {
  for (;;) {
    try {
      io.run();
      return;
    } catch (const std::exception& e) {
      spdlog::error("I/O thread: a connection failed: {}", e.what());
    } catch (...) {
      spdlog::error("I/O thread: a connection failed: unknown exception");
    }
  }
}

void Server::Impl::start() {
  beast::error_code ec;
  auto addr = net::ip::make_address(opts.host, ec);
  if (ec) throw std::runtime_error("invalid listen address '" + opts.host + "'");
  tcp::endpoint ep(addr, opts.port);
  acceptor->open(ep.protocol(), ec);
  if (!ec) acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(ep, ec);
  if (!ec) acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + opts.host + ":" + std::to_string(opts.port) +
                             ": " + ec.message());
  accept();
  for (auto& ioc : iocs) threads.emplace_back([io = ioc.get()] { run_io(*io); });
}

void Server::Impl::accept() {
  auto& io = *iocs[next_ioc++ % iocs.size()];
  acceptor->async_accept(io, [this](beast::error_code ec, tcp::socket sock) {
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
      spdlog::warn("accept failed: {}", ec.message());
    } else {
      sock.set_option(tcp::no_delay(true), ec);
      bool over;
      std::shared_ptr<Session> s;
      {
        std::lock_guard<std::mutex> l(mu);
        over = live >= opts.max_connections;
        ++live;
        s = std::make_shared<Session>(std::move(sock), *this);
        if (!over) {
          if (sessions.size() > size_t(opts.max_connections) * 2)
            sessions.remove_if([](auto& w) { return w.expired(); });
          sessions.push_back(s);
        }
      }
      if (over) s->refuse();
      else s->run();
    }
    if (!draining) accept();
  });
}

void Server::Impl::stop() {
  std::call_once(stop_once, [this] {
    draining = true;
    net::post(*iocs[0], [this] {
      beast::error_code ec;
      acceptor->close(ec);
    });
    // Take the sessions out under the lock, drain them outside it: dropping
    // the last reference to a session runs ~Session, which takes `mu`.
    std::vector<std::shared_ptr<Session>> open;
    {
      std::lock_guard<std::mutex> l(mu);
      for (auto& w : sessions)
        if (auto s = w.lock()) open.push_back(std::move(s));
      sessions.clear();
    }
    for (auto& s : open) s->drain();
    open.clear();
    {
      std::unique_lock<std::mutex> l(mu);
      cv.wait_for(l, std::chrono::milliseconds(opts.drain_timeout_ms), [this] { return live == 0; });
      if (live) spdlog::warn("shutdown: {} connections still open after the drain timeout", live);
    }
    guards.clear();
    for (auto& ioc : iocs) ioc->stop();
    for (auto& t : threads)
      if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
    std::lock_guard<std::mutex> l(mu);
    stopped = true;
    cv.notify_all();
  });
}

Server::Server(ServerOptions opts, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(opts), std::move(handler))) {}
Server::~Server() { stop(); }
void Server::start() { impl_->start(); }
uint16_t Server::port() const { return impl_->acceptor->local_endpoint().port(); }
void Server::stop() { impl_->stop(); }
void Server::wait() {
  std::unique_lock<std::mutex> l(impl_->mu);
  impl_->cv.wait(l, [this] { return impl_->stopped; });
}

}  // namespace atelier::http
