#include "cli.h"

int main(int argc, char** argv) {
  return tessera::jobs::run_cli(argc, argv);
}
