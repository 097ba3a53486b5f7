#include <tessera/tessera.h>

#include <iostream>

int main() {
  tessera::Runtime rt;
  auto inc = tessera::delayed([](int x) { return x + 1; }, "inc");
  auto add = tessera::delayed([](int a, int b) { return a + b; }, "add");
  std::cout << "inc(1) + inc(2) = " << rt.compute(add(inc(1), inc(2))) << " (tessera " << TESSERA_VERSION
            << ")\n";
  return 0;
}
