/* Native reference for bench/emu/mips.mjs: the bench-loop guest's 8-instruction ALU loop (same asm, same
 * register roles) and its sieve/CRC workload (same C, guests/lib/crc32.h), timed in-process with
 * CLOCK_MONOTONIC (wall) and CLOCK_PROCESS_CPUTIME_ID (CPU, stable on a loaded host), so no process start-up
 * is included.
 * Usage: emu-loop ITERS [SIEVE_N CRC_N]   prints "loop <iters> <wall_ns> <cpu_ns> <result>" and, with the
 * workload, "work <sieve_n> <crc_n> <wall_ns> <cpu_ns> <primes> <crc>". Build: gcc -O2 -o emu-loop emu-loop.c */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../../guests/lib/crc32.h"

static uint8_t sieve_map[1u << 20];

static uint64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The guest's loop: 7 register ALU ops + the loop branch per iteration, 32-bit registers. */
static uint32_t alu_loop(uint32_t iters) {
  uint32_t a = 1, bb = 2, c = 3, d = 4;
  if (!iters) return 0;
  __asm__ volatile(
      "1:\n"
      "  add %[b], %[a]\n"
      "  xor %[a], %[c]\n"
      "  sub %[c], %[d]\n"
      "  rol $3, %[b]\n"
      "  and %[d], %[b]\n"
      "  or $0x10001, %[b]\n"
      "  dec %[n]\n"
      "  jnz 1b\n"
      : [a] "+r"(a), [b] "+r"(bb), [c] "+r"(c), [d] "+r"(d), [n] "+r"(iters)
      :
      : "cc");
  return a ^ bb ^ c ^ d;
}

static uint32_t sieve(uint32_t n) {
  if (n > sizeof sieve_map) n = sizeof sieve_map;
  memset(sieve_map, 1, n);
  uint32_t count = 0;
  for (uint32_t i = 2; i < n; i++) {
    if (!sieve_map[i]) continue;
    count++;
    if (i < 65536)
      for (uint32_t j = i * i; j < n; j += i) sieve_map[j] = 0;
  }
  return count;
}

static uint32_t crc_buf(uint32_t n) {
  uint32_t x = 0x12345678u, crc = 0;
  uint8_t block[256];
  while (n) {
    uint32_t k = n < sizeof block ? n : sizeof block;
    for (uint32_t i = 0; i < k; i++) {
      x = x * 1664525u + 1013904223u;
      block[i] = (uint8_t)(x >> 24);
    }
    crc = crc32_update(crc, block, k);
    n -= k;
  }
  return crc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s ITERS [SIEVE_N CRC_N]\n", argv[0]);
    return 2;
  }
  uint32_t iters = (uint32_t)strtoul(argv[1], 0, 0);
  uint64_t t0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
  uint32_t r = alu_loop(iters);
  uint64_t t1 = clock_ns(CLOCK_MONOTONIC), c1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
  printf("loop %u %llu %llu %08x\n", iters, (unsigned long long)(t1 - t0), (unsigned long long)(c1 - c0), r);
  if (argc >= 4) {
    uint32_t sn = (uint32_t)strtoul(argv[2], 0, 0), cn = (uint32_t)strtoul(argv[3], 0, 0);
    t0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    uint32_t primes = sieve(sn);
    uint32_t crc = crc_buf(cn);
    t1 = clock_ns(CLOCK_MONOTONIC), c1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    printf("work %u %u %llu %llu %u %08x\n", sn, cn, (unsigned long long)(t1 - t0), (unsigned long long)(c1 - c0), primes, crc);
  }
  return 0;
}
