// A job in which the last worker is killed (SIGKILL, as by the OOM killer or a node failure) halfway through.
// tests/mpi/kill_check.cmake runs it under mpiexec and checks that the whole job ends, non-zero, in bounded
// time.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "tessera/runtime/runtime.h"

int main() {
  tessera::Runtime rt;
  if (rt.ranks() < 3) {
    std::fprintf(stderr, "kill_worker needs at least 3 ranks\n");
    return 2;
  }
  const int victim = rt.ranks() - 1;
  tessera::Graph g;
  const auto slow = g.kernel([](const tessera::TaskContext&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return tessera::Value::of(1);
  });
  const auto name = g.name("work");
  std::vector<tessera::TaskId> outs;
  for (int i = 0; i < 200; ++i) outs.push_back(g.add(name, {i}, slow, {}));
  outs.push_back(g.add(
      tessera::TaskKey{"die", {}},
      [](const tessera::TaskContext&) -> tessera::Value {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        raise(SIGKILL);
        return {};
      },
      {}, tessera::TaskOptions{.rank = victim}));
  rt.run(g, outs);
  std::fprintf(stderr, "rank %d: the run finished although a worker was killed\n", rt.rank());
  return 0;
}
