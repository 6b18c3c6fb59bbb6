/* bench-loop (32-bit) / bench-loop64 (64-bit, same source): a MIPS benchmark guest. Runs, in ring 3, a tight loop of exactly 8 ALU instructions per iteration
 * (7 register ALU ops + the loop branch), iters=N times (default 1000000), then a branchy/memory workload
 * (sieve below sieve=N, default 200000, and CRC-32 of crc=N bytes, default 65536). It prints how many
 * instructions the loop executed and deterministic checksums. With "tsc" on the cmdline it also prints
 * RDTSC deltas (not deterministic). cmdline "loop-only" skips the sieve/CRC part. */
#include "rt.h"
#include "trap.h"
#include "user.h"
#include "crc32.h"

#define LOOP_INSNS 8

struct bench { uint32_t iters, sieve_n, crc_n, loop_only, result, primes, crc; uint64_t tsc_loop, tsc_work; };
static struct bench b;
static uint8_t sieve_map[1u << 20];

static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

static uint32_t alu_loop(uint32_t iters) {
  uint32_t a = 1, bb = 2, c = 3, d = 4;
  if (!iters) return 0;
  __asm__ volatile(
      "1:\n"
      "  add %[b], %[a]\n"   /* 1 */
      "  xor %[a], %[c]\n"   /* 2 */
      "  sub %[c], %[d]\n"   /* 3 */
      "  rol $3, %[b]\n"     /* 4 */
      "  and %[d], %[b]\n"   /* 5 */
      "  or $0x10001, %[b]\n" /* 6 */
      "  dec %[n]\n"         /* 7 */
      "  jnz 1b\n"           /* 8 */
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

static uintptr_t user_main(uintptr_t arg) {
  struct bench *p = (struct bench *)(uintptr_t)arg;
  uint64_t t0 = rdtsc();
  p->result = alu_loop(p->iters);
  uint64_t t1 = rdtsc();
  if (!p->loop_only) {
    p->primes = sieve(p->sieve_n);
    p->crc = crc_buf(p->crc_n);
  }
  uint64_t t2 = rdtsc();
  p->tsc_loop = t1 - t0;
  p->tsc_work = t2 - t1;
  return 0x600D;
}

void kmain(uint32_t magic, uint32_t info) {
  serial_init();
  const char *cl = mb_cmdline(magic, info);
  b.iters = cmdline_get_u32(cl, "iters", 1000000);
  b.sieve_n = cmdline_get_u32(cl, "sieve", 200000);
  b.crc_n = cmdline_get_u32(cl, "crc", 65536);
  b.loop_only = (uint32_t)cmdline_has_word(cl, "loop-only");
  trap_init();
  kprintf("bench-loop: %u iterations of an %u-instruction loop in ring 3\n", b.iters, LOOP_INSNS);
  uint32_t r = (uint32_t)run_user(user_main, (uintptr_t)&b);
  kprintf("bench-loop: loop executed %llu instructions, result %08x\n", (unsigned long long)b.iters * LOOP_INSNS, b.result);
  if (!b.loop_only) kprintf("bench-loop: sieve below %u: %u primes; crc32 of %u bytes: %08x\n", b.sieve_n, b.primes, b.crc_n, b.crc);
  if (cmdline_has_word(cl, "tsc")) kprintf("bench-loop: tsc loop %llu, work %llu\n", (unsigned long long)b.tsc_loop, (unsigned long long)b.tsc_work);
  debug_exit(r == 0x600D ? EXIT_SUCCESS_CODE : EXIT_FAILURE_CODE);
}
