// A live dashboard over HTTP: the HTML report's page, drawing the run's latest LiveSnapshot once a second
// while the run goes on (docs/dashboard.md). The server answers on its own bounded pool of threads and only
// reads what the executors already publish to a LiveView, so the run never waits for it, however many
// clients poll and whichever of them vanish mid-response.
//
// Safe by default: it listens on 127.0.0.1 unless a host is given, and the page and its data answer 403 to
// any request without the random access token that the printed URL carries.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace tessera {

class LiveView;

struct DashboardOptions {
  // "[HOST:]PORT" to serve on ("8787", "0.0.0.0:8787", "[::1]:8787"); port 0 picks a free port. Empty: no
  // dashboard (no thread, no socket).
  std::string listen;
  std::string token;     // the access token; empty: 128 random bits, in hex
  int threads = 4;       // server threads answering requests (connections beyond them wait in a queue)
  bool announce = true;  // Runtime: rank 0 prints the URL and the ssh tunnel line on stderr
};

// HOST and PORT of "[HOST:]PORT" (HOST defaults to 127.0.0.1; brackets around an IPv6 host are dropped).
// Throws Error(kInvalidArgument) quoting the text when it is not of that form or the port is not 0-65535.
struct ListenAddress {
  std::string host;
  int port = 0;
};
ListenAddress parse_listen_address(std::string_view text);

// This machine's name as a login node reaches it: SLURMD_NODENAME under Slurm, else gethostname().
std::string dashboard_node_name();

class Dashboard {
 public:
  // Listens on options.listen and serves `view` from now until destruction:
  //   GET /?token=T      the page (the report's page in live mode)
  //   GET /data?token=T  the latest snapshot as the report's JSON data (Cache-Control: no-store)
  // any request without the token, whatever its path or method: 403. Throws Error(kInvalidArgument) for a
  // malformed address and Error(kIo) naming the address when it cannot be bound (in use, no such host).
  Dashboard(const DashboardOptions& options, std::shared_ptr<const LiveView> view);
  // Stops listening and joins the server's threads once the requests in progress end (a client is dropped
  // after 2 s without sending or reading, an idle connection after 1 s); the port is free after.
  ~Dashboard();
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  const std::string& host() const noexcept { return host_; }
  int port() const noexcept { return port_; }
  const std::string& token() const noexcept { return token_; }
  // "http://HOST:PORT/?token=T" (HOST is this node's name when listening on every interface).
  std::string url() const;
  // How to reach it from a login node: "ssh -L PORT:127.0.0.1:PORT -J LOGIN NODE" on loopback (the address
  // it listens on), "ssh -L PORT:NODE:PORT LOGIN" on every address, "ssh -L PORT:HOST:PORT LOGIN" on one
  // other address (LOGIN: SLURM_SUBMIT_HOST when set).
  std::string tunnel() const;
  // Requests answered so far (any status, any path).
  std::uint64_t requests() const noexcept;

  struct Server;

 private:
  std::string host_;
  int port_ = 0;
  std::string token_;
  std::unique_ptr<Server> server_;
};

}  // namespace tessera
