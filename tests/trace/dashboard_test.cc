// The live dashboard's server over real HTTP (cpp-httplib's client on loopback): the token guards the page
// and its data (403 without it), the data is the run's own numbers, the page is the report's page, the port
// is free again when the Runtime goes (after a run, a failing task and a stop on SIGUSR1), and clients that
// poll hard or vanish do not hold the run back.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tessera/runtime/dashboard.h"
#include "tessera/runtime/error.h"
#include "tessera/runtime/live_view.h"
#include "tessera/runtime/runtime.h"
#include "tessera/runtime/stop.h"
#include "tessera/runtime/trace.h"
#include "trace_check.h"

namespace tessera {
namespace {

// Whether something accepts connections on 127.0.0.1:port (an independent check: a plain socket).
bool accepting(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

// Whether a new listener can take 127.0.0.1:port (SO_REUSEADDR, as servers do: TIME_WAIT does not count).
bool bindable(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int yes = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 && ::listen(fd, 1) == 0;
  ::close(fd);
  return ok;
}

int status_of(int port, const std::string& path, std::string* body = nullptr) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(5, 0);
  c.set_read_timeout(10, 0);
  auto r = c.Get(path);
  if (!r) return -1;
  if (body) *body = r->body;
  return r->status;
}

// A graph of `n` leaves that each take `ms` milliseconds, in two kinds, and a sum over all of them.
std::vector<TaskId> slow_graph(Graph& g, int n, int ms, bool fail = false) {
  const KernelId work = g.kernel([ms, fail](const TaskContext& ctx) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    if (fail && ctx.index()[0] == 7) throw std::runtime_error("task 7 fails on purpose");
    return Value::of(static_cast<double>(ctx.index()[0]));
  });
  const KernelId sum = g.kernel([](const TaskContext& ctx) {
    double s = 0;
    for (std::size_t k = 0; k < ctx.num_inputs(); ++k) s += ctx.input<double>(k);
    return Value::of(s);
  });
  const NameId even = g.name("even-leaf"), odd = g.name("odd-leaf");
  std::vector<TaskId> leaves;
  for (int i = 0; i < n; ++i) leaves.push_back(g.add(i % 2 ? odd : even, {i}, work, {}));
  return {g.add(g.name("total"), {0}, sum, leaves)};
}

RuntimeOptions with_dashboard(const std::string& listen = "127.0.0.1:0") {
  RuntimeOptions o;
  o.executor = ExecutorKind::kThreads;
  o.threads = 2;
  o.dashboard.listen = listen;
  o.dashboard.announce = false;
  return o;
}

TEST(Dashboard, ParsesListenAddresses) {
  EXPECT_EQ(parse_listen_address("8787").host, "127.0.0.1") << "loopback unless a host is given";
  EXPECT_EQ(parse_listen_address("8787").port, 8787);
  EXPECT_EQ(parse_listen_address("0.0.0.0:80").host, "0.0.0.0");
  EXPECT_EQ(parse_listen_address("[::1]:9").host, "::1");
  EXPECT_EQ(parse_listen_address("[::1]:9").port, 9);
  EXPECT_EQ(parse_listen_address("node12:0").port, 0);
  for (const char* bad : {"", "abc", "1:2:3", "70000", "-1", "host:", ":80", "[::1]", "8787x"}) {
    try {
      parse_listen_address(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << bad;
      EXPECT_NE(std::string(e.what()).find(std::string("\"") + bad + "\""), std::string::npos) << e.what();
    }
  }
}

TEST(Dashboard, RefusesRequestsWithoutTheTokenAndServesTheRunsNumbersWithIt) {
  Runtime rt(with_dashboard());
  const Dashboard* d = rt.dashboard();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->host(), "127.0.0.1");
  EXPECT_EQ(d->token().size(), 32u);
  const int port = d->port();
  EXPECT_NE(d->url().find(":" + std::to_string(port) + "/?token=" + d->token()), std::string::npos);
  EXPECT_NE(d->tunnel().find("ssh -L " + std::to_string(port) + ":127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << d->tunnel();

  std::string body;
  EXPECT_EQ(status_of(port, "/", &body), 403);
  EXPECT_NE(body.find("token"), std::string::npos) << "the refusal says what is missing";
  EXPECT_EQ(status_of(port, "/?token=wrong"), 403);
  EXPECT_EQ(status_of(port, "/?token=" + d->token().substr(0, 31)), 403) << "a prefix is not the token";
  EXPECT_EQ(status_of(port, "/data"), 403);
  EXPECT_EQ(status_of(port, "/data?token=" + std::string(32, 'a')), 403);
  EXPECT_EQ(status_of(port, "/data?token=" + d->token(), &body), 200);
  EXPECT_EQ(body, "null") << "no run yet";
  EXPECT_EQ(status_of(port, "/nothing-here?token=" + d->token()), 404);
  // Any other path or method is refused without the token before anything else looks at it.
  EXPECT_EQ(status_of(port, "/nothing-here"), 403);
  EXPECT_EQ(status_of(port, "/../etc/passwd"), 403);
  {
    httplib::Client c("127.0.0.1", port);
    auto r = c.Post("/data", "x", "text/plain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << "a POST without the token";
    EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store");
  }

  ASSERT_EQ(status_of(port, "/?token=" + d->token(), &body), 200);
  // The report's page, live: its data element holds null and the script polls.
  EXPECT_NE(body.find("<script type=\"application/json\" id=\"data\">null</script>"), std::string::npos);
  EXPECT_EQ(body.find("https://"), std::string::npos) << "no external resources";

  Graph g;
  const std::vector<TaskId> out = slow_graph(g, 40, 1);
  const std::vector<Value> values = rt.run(g, out);
  EXPECT_EQ(values[0].get<double>(), 40 * 39 / 2.0);
  ASSERT_EQ(status_of(port, "/data?token=" + d->token(), &body), 200);
  const nlohmann::json data = nlohmann::json::parse(body);
  EXPECT_EQ(data["live"]["finished"], true);
  EXPECT_EQ(data["live"]["done"], rt.last_stats().plan_tasks);
  EXPECT_EQ(data["tasks_total"], rt.last_stats().plan_tasks);
  EXPECT_EQ(data["config"]["executor"], "threads");
  ASSERT_EQ(data["workers"].size(), 1u);
  EXPECT_EQ(data["workers"][0]["threads"], 2);
  EXPECT_EQ(data["workers"][0]["done"], rt.last_stats().plan_tasks);
  // The task stream shows every task the run finished (fewer than LiveView::kRecent), by kind.
  EXPECT_EQ(data["shown"], rt.last_stats().plan_tasks);
  std::uint64_t counted = 0;
  for (const auto& k : data["kinds"]) counted += k["count"].get<std::uint64_t>();
  EXPECT_EQ(counted, rt.last_stats().plan_tasks);
  EXPECT_GE(d->requests(), 12u) << "every request went through the token check";
}

TEST(Dashboard, ThePageIsTheReportsPage) {
  // The same document around different data: the report's inlined JSON, the dashboard's "null".
  auto exec = make_thread_pool_executor({.threads = 2, .record = {.enabled = true}});
  Graph g;
  Plan plan = Plan::build(g, test::build_trace_graph(g, 16));
  RunResult r = exec->run(g, plan);
  std::ostringstream report;
  write_html_report(*r.trace, report);
  Runtime rt(with_dashboard());
  std::string page;
  ASSERT_EQ(status_of(rt.dashboard()->port(), "/?token=" + rt.dashboard()->token(), &page), 200);
  const std::string marker = "id=\"data\">";
  const std::string a = report.str(), b = page;
  const auto ai = a.find(marker) + marker.size(), bi = b.find(marker) + marker.size();
  EXPECT_EQ(a.substr(0, ai), b.substr(0, bi));
  EXPECT_EQ(a.substr(a.find("</script>", ai)), b.substr(b.find("</script>", bi)));
}

TEST(Dashboard, ThePortIsFreeAfterTheRunAfterAFailingTaskAndAfterAStop) {
  int port = 0;
  {
    Runtime rt(with_dashboard());
    port = rt.dashboard()->port();
    EXPECT_TRUE(accepting(port));
    Graph g;
    rt.run(g, slow_graph(g, 20, 1));
  }
  EXPECT_FALSE(accepting(port)) << "nothing listens once the Runtime is gone";
  EXPECT_TRUE(bindable(port));

  // The same port again, and a task that fails.
  {
    Runtime rt(with_dashboard("127.0.0.1:" + std::to_string(port)));
    EXPECT_EQ(rt.dashboard()->port(), port);
    Graph g;
    EXPECT_THROW(rt.run(g, slow_graph(g, 20, 1, /*fail=*/true)), std::exception);
    std::string body;
    EXPECT_EQ(status_of(port, "/data?token=" + rt.dashboard()->token(), &body), 200)
        << "still serving after the failure, until the Runtime goes";
  }
  EXPECT_FALSE(accepting(port));
  EXPECT_TRUE(bindable(port));

  // A stop on SIGUSR1 (as Slurm sends before the time limit) in the middle of a run.
  install_stop_handlers(false);
  clear_stop();
  {
    Runtime rt(with_dashboard("127.0.0.1:" + std::to_string(port)));
    Graph g;
    const std::vector<TaskId> out = slow_graph(g, 400, 5);
    std::thread signaller([] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      std::raise(SIGUSR1);
    });
    try {
      rt.run(g, out);
      ADD_FAILURE() << "the run was not stopped";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kCancelled) << e.what();
      EXPECT_NE(std::string(e.what()).find("SIGUSR1"), std::string::npos) << e.what();
    }
    signaller.join();
  }
  clear_stop();
  EXPECT_FALSE(accepting(port));
  EXPECT_TRUE(bindable(port));
}

TEST(Dashboard, APortInUseIsAnErrorNamingIt) {
  Runtime first(with_dashboard());
  const int port = first.dashboard()->port();
  try {
    Runtime second(with_dashboard("127.0.0.1:" + std::to_string(port)));
    ADD_FAILURE() << "two dashboards on one port";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)), std::string::npos) << e.what();
  }
}

TEST(Dashboard, OffMeansNoServer) {
  RuntimeOptions o;
  o.executor = ExecutorKind::kThreads;
  Runtime rt(o);
  EXPECT_EQ(rt.dashboard(), nullptr);
}

// 50 clients fetch the data as fast as they can, and some connect and vanish mid-request, while a run of
// sleeping tasks goes on: the run takes about as long as without them (its threads never wait for the
// server), and the server keeps answering.
TEST(Dashboard, ClientsPollingHardOrVanishingDoNotHoldTheRunBack) {
  Runtime rt(with_dashboard());
  const int port = rt.dashboard()->port();
  const std::string data = "/data?token=" + rt.dashboard()->token();
  auto timed_run = [&] {
    Graph g;
    const std::vector<TaskId> out = slow_graph(g, 200, 4);
    const auto t0 = std::chrono::steady_clock::now();
    rt.run(g, out);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  const double alone = timed_run();
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> answered{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 50; ++i) {
    clients.emplace_back([&, i] {
      while (!stop.load()) {
        if (i % 10 == 9) {
          // Connects, asks, and goes away without reading the answer.
          const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
          sockaddr_in a{};
          a.sin_family = AF_INET;
          a.sin_port = htons(static_cast<std::uint16_t>(port));
          a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
          if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
            const std::string req = "GET " + data + " HTTP/1.1\r\nHost: x\r\n\r\n";
            (void)!::write(fd, req.data(), req.size());
          }
          ::close(fd);
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          continue;
        }
        if (status_of(port, data) == 200) answered.fetch_add(1);
      }
    });
  }
  const double polled = timed_run();
  stop = true;
  for (auto& c : clients) c.join();
  std::printf("run alone %.3f s, with 50 clients polling %.3f s (%llu answers)\n", alone, polled,
              static_cast<unsigned long long>(answered.load()));
  EXPECT_GT(answered.load(), 50u);
  // Generous: a 2-core machine shares its cores with the clients; the run sleeps, so it should not wait.
  EXPECT_LT(polled, alone * 1.5 + 0.2);
  std::string body;
  EXPECT_EQ(status_of(port, data, &body), 200) << "still answering after clients vanished";
  EXPECT_EQ(nlohmann::json::parse(body)["live"]["finished"], true);
}

}  // namespace
}  // namespace tessera
