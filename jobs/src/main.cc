#include <malloc.h>

#include "cli.h"

int main(int argc, char** argv) {
  // Chunks of a few to 32 MiB are allocated and freed all run long. glibc's default serves each from a fresh
  // mmap (zeroed pages faulted in, then unmapped), which cost a quarter of a job's time on deflated inputs
  // (docs/design.md, io: "Memory allocation"); keeping them in the heap reuses the pages. Peak RSS is
  // unchanged: what is freed is reused by the next chunk. An application's choice, so the library leaves
  // malloc alone.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  return tessera::jobs::run_cli(argc, argv);
}
