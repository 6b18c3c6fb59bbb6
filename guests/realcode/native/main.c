/* The realcode suite as a host program: the same kernels (../k-*.c, ../kernels.c, ../rc-lib.c) compiled by
 * the same gcc for the host CPU. It prints the guest's lines (without the mode word) so the test can compare
 * checksums, and with --time each kernel's wall and CPU time: "time <kernel> <wall ns> <cpu ns>".
 *   realcode-native [--quick] [--scale N] [--only a,b] [--time] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include "../rc.h"

static uint64_t now_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int selected(const char *only, const char *name) {
  if (!only) return 1;
  size_t n = strlen(name);
  for (const char *p = only; *p;) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l == n && !strncmp(p, name, n)) return 1;
    if (!e) break;
    p = e + 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  int quick = 0, timing = 0;
  unsigned scale = 1;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) quick = 1;
    else if (!strcmp(argv[i], "--time")) timing = 1;
    else if (!strcmp(argv[i], "--scale") && i + 1 < argc) scale = (unsigned)strtoul(argv[++i], NULL, 0);
    else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    else {
      fprintf(stderr, "realcode-native: unknown argument %s (usage: [--quick] [--scale N] [--only a,b] [--time])\n", argv[i]);
      return 2;
    }
  }
  if (!scale) scale = 1;
  uint32_t total = 0;
  uint64_t t_all = 0, c_all = 0;
  for (unsigned k = 0; k < rc_kernel_count; k++) {
    const struct rc_kernel *kn = &rc_kernels[k];
    if (!selected(only, kn->name)) continue;
    uint32_t n = (quick ? kn->n_quick : kn->n_default) * scale;
    uint64_t t0 = now_ns(CLOCK_MONOTONIC), c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    uint32_t sum = kn->fn(n);
    uint64_t dt = now_ns(CLOCK_MONOTONIC) - t0, dc = now_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
    t_all += dt;
    c_all += dc;
    if (rc_failure) {
      printf("realcode: FAIL %s: %s\n", kn->name, rc_failure);
      return 1;
    }
    total = rc_mix(total, sum);
    printf("realcode: %s n=%u checksum %08x\n", kn->name, n, sum);
    if (timing) printf("time %s %llu %llu\n", kn->name, (unsigned long long)dt, (unsigned long long)dc);
  }
  printf("realcode: total %08x\n", total);
  if (timing) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("time total %llu %llu\nmaxrss %ld\n", (unsigned long long)t_all, (unsigned long long)c_all, ru.ru_maxrss);
  }
  return 0;
}
