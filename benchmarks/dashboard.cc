// dashboard: what a live dashboard with 50 clients costs a run. The `overhead` benchmark's graphs (8 chains
// of N/8 no-op tasks; a tree reduction over N leaves, fan-in 8), and the tracing benchmark's "work-10us" tree
// (leaves computing 10 us), run on the thread pool with a Dashboard serving its live snapshots, alternating
// in the same process between no client and 50 clients that each fetch /data and sleep (`--interval`
// seconds between fetches, 1 s as the page polls; 0: as fast as they can, a stress figure, not a target).
// --quick runs fewer repetitions of the same sizes (shorter runs would see too few fetches to tell). Figures:
//   tessera-local-dashboard            the dashboard on, nobody looking
//   tessera-local-dashboard-50clients  the same with 50 clients polling throughout
//   per_task = plan + run per task (the overhead benchmark's figure); requests = answers the clients got.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_graphs.h"
#include "bench_util.h"
#include "tessera/runtime/dashboard.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/graph.h"
#include "tessera/runtime/live_view.h"
#include "tessera/runtime/plan.h"
#include "tessera/runtime/trace.h"

namespace {

using namespace tessera;

double measure_once(const std::string& shape, int n, Executor& exec) {
  bench::Built b;
  if (shape == "work-10us") {
    bench::build_work(b, n);
  } else {
    bench::build_shape(b, shape, n);
  }
  const double t0 = bench::now_seconds();
  Plan plan = Plan::build(b.graph, b.outputs, {.cull = true, .fuse = false});
  RunResult result = exec.run(b.graph, plan);
  const double t1 = bench::now_seconds();
  if (result.stats.graph_tasks != b.graph.size()) std::exit(1);
  return (t1 - t0) * 1e6 / static_cast<double>(b.graph.size());
}

// `count` clients fetching the dashboard's data, each sleeping `interval` seconds between fetches, from
// construction to destruction.
class Clients {
 public:
  Clients(int count, int port, std::string path, double interval) {
    for (int i = 0; i < count; ++i) {
      threads_.emplace_back([this, port, path, interval, i] {
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(10, 0);
        // Spread the first fetches over the interval, as tabs opened at different times would be.
        sleep(interval * i / 50.0);
        while (!stop_.load(std::memory_order_relaxed)) {
          auto r = c.Get(path);
          if (r && r->status == 200) answered_.fetch_add(1, std::memory_order_relaxed);
          sleep(interval);
        }
      });
    }
  }
  ~Clients() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }
  std::uint64_t answered() const { return answered_.load(); }

 private:
  // Sleeps without waking up meanwhile (50 threads checking a flag would cost the run more than the fetches).
  void sleep(double seconds) {
    std::unique_lock lock(mu_);
    wake_.wait_for(lock, std::chrono::duration<double>(seconds), [this] { return stop_.load(); });
  }
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> answered_{0};
  std::vector<std::thread> threads_;
};

}  // namespace

int main(int argc, char** argv) {
  const bool quick = bench::has_flag(argc, argv, "--quick");
  const int n = static_cast<int>(bench::flag_value(argc, argv, "--tasks", 1000000));
  const int work_n = static_cast<int>(bench::flag_value(argc, argv, "--work-tasks", 40000));
  const int reps = static_cast<int>(bench::flag_value(argc, argv, "--reps", quick ? 7 : 15));
  const int threads = static_cast<int>(bench::flag_value(argc, argv, "--threads", 0));
  const int clients = static_cast<int>(bench::flag_value(argc, argv, "--clients", 50));
  const double interval = bench::flag_value(argc, argv, "--interval", 1.0);

  auto live = std::make_shared<LiveView>();
  auto exec = make_thread_pool_executor(
      {.threads = threads, .record = {.enabled = true}, .progress = {.seconds = 0.25, .live = live}});
  Dashboard dashboard({.listen = "127.0.0.1:0"}, live);
  const std::string path = "/data?token=" + dashboard.token();
  const std::string with =
      "tessera-local-dashboard-" + std::to_string(clients) + "clients" + (interval > 0 ? "" : "-nonstop");

  for (const std::string shape : {"chains", "tree", "work-10us"}) {
    const int tasks = shape == "work-10us" ? work_n : n;
    const std::string case_name = shape + "-" + std::to_string(tasks);
    std::vector<double> alone, polled;
    std::uint64_t answers = 0;
    measure_once(shape, tasks, *exec);  // warm-up
    for (int r = 0; r < reps; ++r) {
      // Alternate the order, so drift on a shared machine hits both alike.
      for (int k = 0; k < 2; ++k) {
        if ((k == 0) == (r % 2 == 0)) {
          alone.push_back(measure_once(shape, tasks, *exec));
        } else {
          Clients c(clients, dashboard.port(), path, interval);
          // The clients are polling before the run starts (their first fetches are spread over an interval).
          std::this_thread::sleep_for(std::chrono::duration<double>(std::min(interval, 1.0)));
          polled.push_back(measure_once(shape, tasks, *exec));
          answers += c.answered();
        }
      }
    }
    bench::emit("dashboard", "tessera-local-dashboard", case_name, "per_task", bench::median(alone), "us");
    bench::emit("dashboard", with, case_name, "per_task", bench::median(polled), "us");
    bench::emit("dashboard", with, case_name, "requests", static_cast<double>(answers), "requests");
    // What one fetch carries at the end of a run (the page's data for the latest snapshot).
    httplib::Client c("127.0.0.1", dashboard.port());
    if (auto r = c.Get(path); r && r->status == 200) {
      bench::emit("dashboard", "tessera-local-dashboard", case_name, "data_size",
                  static_cast<double>(r->body.size()) / 1e3, "kB");
    }
  }
  bench::emit("dashboard", "tessera-local-dashboard", "", "threads", exec->concurrency(), "threads");
  return 0;
}
