// The dashboard's HTTP server (cpp-httplib): a listening thread and a bounded pool of request threads, which
// only read the LiveView. The JSON of a snapshot is made once, by whichever request first sees it, and shared
// by the others, so that many clients polling cost one serialisation per published snapshot.
#include "tessera/runtime/dashboard.h"

#include <pthread.h>
#include <signal.h>

#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "live_data.h"
#include "report_page.h"
#include "tessera/runtime/error.h"
#include "tessera/runtime/live_view.h"

namespace tessera {

namespace {

std::string random_token() {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string t;
  for (int i = 0; i < 4; ++i) {
    std::uint32_t v = rd();
    for (int k = 0; k < 8; ++k, v >>= 4) t += kHex[v & 15];
  }
  return t;
}

// Compares in time independent of where the strings differ (the token is the only lock on the page).
bool same_token(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost" || host.rfind("127.", 0) == 0;
}

bool is_any(const std::string& host) {
  return host == "0.0.0.0" || host == "::" || host.empty();
}

}  // namespace

ListenAddress parse_listen_address(std::string_view text) {
  ListenAddress a{"127.0.0.1", 0};
  std::string_view port = text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      throw_error(ErrorCode::kInvalidArgument, "dashboard address \"", text,
                  "\" is not [HOST:]PORT (an IPv6 host in brackets: [::1]:8787)");
    }
    a.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    a.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (a.host.empty() || a.host.find(':') != std::string::npos) {
      throw_error(ErrorCode::kInvalidArgument, "dashboard address \"", text,
                  "\" is not [HOST:]PORT (e.g. 8787, 127.0.0.1:8787, 0.0.0.0:8787, [::1]:8787)");
    }
  }
  int value = -1;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value < 0 || value > 65535) {
    throw_error(ErrorCode::kInvalidArgument, "dashboard address \"", text, "\": the port \"", port,
                "\" is not a number from 0 to 65535 (e.g. 8787; 0 picks a free port)");
  }
  a.port = value;
  return a;
}

std::string dashboard_node_name() {
  if (const char* n = std::getenv("SLURMD_NODENAME"); n != nullptr && *n != '\0') return n;
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

struct Dashboard::Server {
  httplib::Server http;
  std::thread listener;
  std::shared_ptr<const LiveView> view;
  std::string token;
  std::string page;
  std::atomic<std::uint64_t> requests{0};
  // The JSON of the latest snapshot served, and which snapshot it was.
  std::mutex cache_mu;
  std::shared_ptr<const LiveSnapshot> cached_snapshot;
  std::shared_ptr<const std::string> cached_json;

  std::shared_ptr<const std::string> data() {
    std::shared_ptr<const LiveSnapshot> latest = view->latest();
    if (!latest) return nullptr;
    std::lock_guard lock(cache_mu);
    if (latest != cached_snapshot) {
      cached_json = std::make_shared<const std::string>(detail::live_data(*latest));
      cached_snapshot = std::move(latest);
    }
    return cached_json;
  }

  bool allowed(const httplib::Request& req, httplib::Response& res) {
    requests.fetch_add(1, std::memory_order_relaxed);
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    if (req.has_param("token") && same_token(req.get_param_value("token"), token)) return true;
    res.status = 403;
    res.set_content(
        "403 Forbidden: this tessera dashboard needs its access token; open the URL that tessera printed "
        "(.../?token=...)\n",
        "text/plain");
    return false;
  }
};

Dashboard::Dashboard(const DashboardOptions& options, std::shared_ptr<const LiveView> view) {
  const ListenAddress address = parse_listen_address(options.listen);
  if (!view) throw_error(ErrorCode::kInvalidArgument, "a dashboard needs a LiveView to show");
  host_ = address.host;
  token_ = options.token.empty() ? random_token() : options.token;
  server_ = std::make_unique<Server>();
  Server& s = *server_;
  s.view = std::move(view);
  s.token = token_;
  {
    std::ostringstream page;
    detail::write_report_page(page, "null");
    s.page = page.str();
  }
  const int threads = std::max(1, options.threads);
  s.http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
  // A poll is one short request: connections are not kept for the next one (which would hold a pool thread
  // for a client that polls once a second), and a client that stops reading frees its thread in 2 s.
  s.http.set_keep_alive_max_count(1);
  s.http.set_keep_alive_timeout(1);
  s.http.set_read_timeout(2, 0);
  s.http.set_write_timeout(2, 0);
  s.http.set_payload_max_length(1024);
  // SO_REUSEADDR (a restart need not wait for old connections' TIME_WAIT) but not cpp-httplib's default
  // SO_REUSEPORT, with which a second dashboard on a port in use would share it instead of failing.
  s.http.set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // Every request, whatever its path or method, is checked for the token before routing: without it, 403.
  s.http.set_pre_routing_handler([&s](const httplib::Request& req, httplib::Response& res) {
    return s.allowed(req, res) ? httplib::Server::HandlerResponse::Unhandled
                               : httplib::Server::HandlerResponse::Handled;
  });
  s.http.Get("/", [&s](const httplib::Request&, httplib::Response& res) {
    // The page runs its own inline script and fetches only its data from here.
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                   "connect-src 'self'; img-src data:; frame-ancestors 'none'");
    res.set_content(s.page, "text/html; charset=utf-8");
  });
  s.http.Get("/data", [&s](const httplib::Request&, httplib::Response& res) {
    std::shared_ptr<const std::string> json = s.data();
    if (!json) {
      res.set_content("null", "application/json");
      return;
    }
    // The response holds the string until it is sent, however often the cache moves on meanwhile.
    res.set_content_provider(json->size(), "application/json",
                             [json](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                               return sink.write(json->data() + offset,
                                                 std::min(length, json->size() - offset));
                             });
  });
  s.http.set_error_handler([&s](const httplib::Request&, httplib::Response& res) {
    if (res.status == 404) res.set_content("404 Not Found\n", "text/plain");
  });
  if (address.port == 0) {
    port_ = s.http.bind_to_any_port(host_);
  } else {
    port_ = s.http.bind_to_port(host_, address.port) ? address.port : -1;
  }
  if (port_ <= 0) {
    const int err = errno;
    throw_error(ErrorCode::kIo, "the dashboard cannot listen on ", host_, ":", address.port, " (",
                err != 0 ? std::strerror(err) : "address not available",
                "); give another port with --dashboard [HOST:]PORT, or 0 for a free one");
  }
  s.listener = std::thread([&s] {
    // Signals are the run's business (stop handlers, Python's, MPI's): one delivered here could interrupt
    // accept() and end the server's loop. Its request threads, started from this one, inherit the mask.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    s.http.listen_after_bind();
  });
  // stop() only reaches a server that is running: wait for it here, so that a Dashboard destroyed at once
  // still stops (listen_after_bind sets it first thing).
  while (!s.http.is_running()) std::this_thread::sleep_for(std::chrono::microseconds(100));
}

Dashboard::~Dashboard() {
  if (!server_) return;
  server_->http.stop();
  if (server_->listener.joinable()) server_->listener.join();
}

std::string Dashboard::url() const {
  std::string host = is_any(host_) ? dashboard_node_name() : host_;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(port_) + "/?token=" + token_;
}

std::string Dashboard::tunnel() const {
  const char* submit = std::getenv("SLURM_SUBMIT_HOST");
  const std::string login = submit != nullptr && *submit != '\0' ? submit : "LOGIN-NODE";
  const std::string node = dashboard_node_name();
  const std::string port = std::to_string(port_);
  if (is_loopback(host_)) {
    const std::string here = host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
    return "ssh -L " + port + ":" + here + ":" + port + " -J " + login + " " + node;
  }
  // Listening on every address: the node's name reaches it; on one address: that one.
  std::string target = is_any(host_) ? node : host_;
  if (target.find(':') != std::string::npos) target = "[" + target + "]";
  return "ssh -L " + port + ":" + target + ":" + port + " " + login;
}

std::uint64_t Dashboard::requests() const noexcept {
  return server_ ? server_->requests.load(std::memory_order_relaxed) : 0;
}

}  // namespace tessera
