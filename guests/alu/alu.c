/* alu: integer workload whose checksums must match across QEMU, KVM and emu. Per instruction class it runs
 * pseudo-random operands through the instruction, folds result and the *architecturally defined* flags (per the
 * SDM; undefined ones are masked) into a CRC-32, and prints one checksum per class; then a sieve and a CRC-32.
 * Runs in ring 3 (fast on this host's KVM). cmdline: n=<iterations per class> (default 2000). */
#include "rt.h"
#include "trap.h"
#include "user.h"
#include "crc32.h"

#define CF 0x001u
#define PF 0x004u
#define AF 0x010u
#define ZF 0x040u
#define SF 0x080u
#define OF 0x800u
#define ALL6 (CF | PF | AF | ZF | SF | OF)

static uint32_t rng = 0x12345678u;
static uint32_t rnd(void) { /* xorshift32, biased towards edge values now and then */
  rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5;
  switch (rng & 15) {
  case 0: return 0;
  case 1: return 0xFFFFFFFFu;
  case 2: return 0x80000000u;
  case 3: return 0x7FFFFFFFu;
  default: return rng * 2654435761u;
  }
}

static uint32_t acc;
static void fold(uint32_t v) { acc = crc32_update(acc, &v, 4); }

/* r = a OP b with CF preset to cin; returns flags */
#define BINOP(insn, a, b, cin, r, fl)                                                                      \
  __asm__ volatile("bt $0, %[c]\n" insn " %[b], %[r]\n pushf\n pop %[f]"                                   \
                   : [r] "=&r"(r), [f] "=&r"(fl) : "0"(a), [b] "r"(b), [c] "r"(cin) : "cc")
#define UNOP(insn, a, r, fl) \
  __asm__ volatile(insn " %[r]\n pushf\n pop %[f]" : [r] "=&r"(r), [f] "=&r"(fl) : "0"(a) : "cc")
#define SHIFT(insn, a, cnt, cin, r, fl)                                                                     \
  __asm__ volatile("bt $0, %[c]\n" insn " %%cl, %[r]\n pushf\n pop %[f]"                                   \
                   : [r] "=&r"(r), [f] "=&r"(fl) : "0"(a), "c"(cnt), [c] "r"(cin) : "cc")

static const char *const names[] = {"add", "adc", "sub", "sbb", "and/or/xor", "inc/dec/neg", "shl/shr/sar",
                                      "rol/ror/rcl/rcr", "shld/shrd", "mul/imul", "div/idiv", "bt/bsf/bsr/bswap",
                                    "setcc/cmov", "8/16-bit"};
#define NCLASSES (sizeof names / sizeof names[0])
static uint32_t class_sum[NCLASSES];

static uint32_t run_classes(uint32_t n) {
  for (unsigned c = 0; c < NCLASSES; c++) {
    acc = 0;
    rng = 0x12345678u + c;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t a = rnd(), b = rnd(), cin = rnd() & 1, r, fl, r2, fl2;
      switch (c) {
      case 0: BINOP("add", a, b, cin, r, fl); fold(r); fold(fl & ALL6); break;
      case 1: BINOP("adc", a, b, cin, r, fl); fold(r); fold(fl & ALL6); break;
      case 2: BINOP("sub", a, b, cin, r, fl); fold(r); fold(fl & ALL6); break;
      case 3: BINOP("sbb", a, b, cin, r, fl); fold(r); fold(fl & ALL6); break;
      case 4: /* AF undefined after logic ops */
        BINOP("and", a, b, cin, r, fl); fold(r); fold(fl & (ALL6 & ~AF));
        BINOP("or", a, b, cin, r, fl); fold(r); fold(fl & (ALL6 & ~AF));
        BINOP("xor", a, b, cin, r, fl); fold(r); fold(fl & (ALL6 & ~AF));
        break;
      case 5: /* inc/dec keep CF */
        UNOP("inc", a, r, fl); fold(r); fold(fl & (ALL6 & ~CF));
        UNOP("dec", a, r, fl); fold(r); fold(fl & (ALL6 & ~CF));
        UNOP("neg", a, r, fl); fold(r); fold(fl & ALL6);
        UNOP("not", a, r, fl); fold(r);
        break;
      case 6: { /* count 1..31: CF, ZF, SF, PF defined; OF only for count 1; AF undefined */
        uint32_t cnt = b & 31;
        if (!cnt) cnt = 1;
        uint32_t m = cnt == 1 ? (CF | ZF | SF | PF | OF) : (CF | ZF | SF | PF);
        SHIFT("shl", a, cnt, cin, r, fl); fold(r); fold(fl & m);
        SHIFT("shr", a, cnt, cin, r, fl); fold(r); fold(fl & m);
        SHIFT("sar", a, cnt, cin, r, fl); fold(r); fold(fl & m);
        break;
      }
      case 7: { /* rotates: CF defined (count != 0), OF only for count 1; other flags unchanged */
        uint32_t cnt = b & 31;
        if (!cnt) cnt = 1;
        uint32_t m = cnt == 1 ? (CF | OF) : CF;
        SHIFT("rol", a, cnt, cin, r, fl); fold(r); fold(fl & m);
        SHIFT("ror", a, cnt, cin, r, fl); fold(r); fold(fl & m);
        SHIFT("rcl", a, cnt, cin, r, fl); fold(r); fold(fl & m);
        SHIFT("rcr", a, cnt, cin, r, fl); fold(r); fold(fl & m);
        break;
      }
      case 8: { /* shld/shrd count 1..31: CF, ZF, SF, PF defined; OF for count 1 */
        uint32_t cnt = b & 31;
        if (!cnt) cnt = 1;
        uint32_t m = cnt == 1 ? (CF | ZF | SF | PF | OF) : (CF | ZF | SF | PF);
        uint32_t src = rnd();
        __asm__ volatile("shld %%cl, %[s], %[r]\n pushf\n pop %[f]" : [r] "=&r"(r), [f] "=&r"(fl) : "0"(a), [s] "r"(src), "c"(cnt) : "cc");
        fold(r); fold(fl & m);
        __asm__ volatile("shrd %%cl, %[s], %[r]\n pushf\n pop %[f]" : [r] "=&r"(r), [f] "=&r"(fl) : "0"(a), [s] "r"(src), "c"(cnt) : "cc");
        fold(r); fold(fl & m);
        break;
      }
      case 9: { /* mul/imul: CF and OF defined */
        uint32_t lo, hi;
        __asm__ volatile("mul %[b]\n pushf\n pop %[f]" : "=a"(lo), "=d"(hi), [f] "=r"(fl) : "a"(a), [b] "r"(b) : "cc");
        fold(lo); fold(hi); fold(fl & (CF | OF));
        __asm__ volatile("imul %[b]\n pushf\n pop %[f]" : "=a"(lo), "=d"(hi), [f] "=r"(fl) : "a"(a), [b] "r"(b) : "cc");
        fold(lo); fold(hi); fold(fl & (CF | OF));
        __asm__ volatile("imul %[b], %[r]\n pushf\n pop %[f]" : [r] "=&r"(r), [f] "=&r"(fl) : "0"(a), [b] "r"(b) : "cc");
        fold(r); fold(fl & (CF | OF));
        break;
      }
      case 10: { /* div/idiv without #DE: dividend high part below the divisor */
        uint32_t d = b | 1, hi = a % d, lo = rnd(), q, rm;
        __asm__ volatile("div %[d]" : "=a"(q), "=d"(rm) : "a"(lo), "d"(hi), [d] "r"(d) : "cc");
        fold(q); fold(rm);
        int32_t sa = (int32_t)a, sd = (int32_t)(b | 1);
        if (sd == -1) sd = 3;
        int32_t sq, sr;
        __asm__ volatile("cltd\n idiv %[d]" : "=a"(sq), "=d"(sr) : "a"(sa), [d] "r"(sd) : "cc");
        fold((uint32_t)sq); fold((uint32_t)sr);
        break;
      }
      case 11: { /* bt: CF; bsf/bsr: ZF (destination undefined for a zero source: skipped) */
        __asm__ volatile("bt %[b], %[a]\n pushf\n pop %[f]" : [f] "=r"(fl) : [a] "r"(a), [b] "r"(b) : "cc");
        fold(fl & CF);
        __asm__ volatile("btc %[b], %[r]\n pushf\n pop %[f]" : [r] "=&r"(r), [f] "=&r"(fl) : "0"(a), [b] "r"(b) : "cc");
        fold(r); fold(fl & CF);
        __asm__ volatile("bsf %[a], %[r]\n pushf\n pop %[f]" : [r] "=&r"(r), [f] "=&r"(fl) : [a] "r"(a), "0"(0u) : "cc");
        fold(a ? r : 0); fold(fl & ZF);
        __asm__ volatile("bsr %[a], %[r]\n pushf\n pop %[f]" : [r] "=&r"(r), [f] "=&r"(fl) : [a] "r"(a), "0"(0u) : "cc");
        fold(a ? r : 0); fold(fl & ZF);
        __asm__ volatile("bswap %0" : "=r"(r) : "0"(a));
        fold(r);
        break;
      }
      case 12: { /* cmp then every setcc and a cmov */
        uint32_t s = 0, t = 0;
        __asm__ volatile("cmp %[b], %[a]\n"
                         "seto %%al\n shl $1, %[s]\n or %%eax, %[s]\n"
                         "setb %%al\n shl $1, %[s]\n or %%eax, %[s]\n"
                         "setz %%al\n shl $1, %[s]\n or %%eax, %[s]\n"
                         "setbe %%al\n shl $1, %[s]\n or %%eax, %[s]\n"
                         "sets %%al\n shl $1, %[s]\n or %%eax, %[s]\n"
                         "setp %%al\n shl $1, %[s]\n or %%eax, %[s]\n"
                         "setl %%al\n shl $1, %[s]\n or %%eax, %[s]\n"
                         "setle %%al\n shl $1, %[s]\n or %%eax, %[s]\n"
                         : [s] "+r"(s), "+a"(t) : [a] "r"(a), [b] "r"(b) : "cc");
        fold(s);
        r = a;
        __asm__ volatile("cmp %[b], %[a]\n cmovl %[b], %[r]" : [r] "+r"(r) : [a] "r"(a), [b] "r"(b) : "cc");
        fold(r);
        break;
      }
      case 13: { /* 8- and 16-bit forms */
        uint8_t r8; uint16_t r16;
        __asm__ volatile("addb %b[b], %b[r]\n pushf\n pop %[f]" : [r] "=&q"(r8), [f] "=&r"(fl) : "0"((uint8_t)a), [b] "q"((uint8_t)b) : "cc");
        fold(r8); fold(fl & ALL6);
        __asm__ volatile("subw %w[b], %w[r]\n pushf\n pop %[f]" : [r] "=&r"(r16), [f] "=&r"(fl) : "0"((uint16_t)a), [b] "r"((uint16_t)b) : "cc");
        fold(r16); fold(fl & ALL6);
        __asm__ volatile("imulw %w[b], %w[r]\n pushf\n pop %[f]" : [r] "=&r"(r16), [f] "=&r"(fl) : "0"((uint16_t)a), [b] "r"((uint16_t)b) : "cc");
        fold(r16); fold(fl & (CF | OF));
        r2 = a; fl2 = 0;
        __asm__ volatile("movsbl %b[a], %[r]" : [r] "=r"(r2) : [a] "q"(a));
        fold(r2);
        __asm__ volatile("movzwl %w[a], %[r]" : [r] "=r"(fl2) : [a] "r"(a));
        fold(fl2);
        break;
      }
      }
    }
    class_sum[c] = acc;
  }
  return 0;
}

/* Sieve of Eratosthenes below n: returns the prime count; sieve_sum gets a CRC of the bitmap. */
static uint8_t sieve_map[1u << 20];
static uint32_t sieve_sum;
static uint32_t sieve(uint32_t n) {
  if (n > sizeof sieve_map) n = sizeof sieve_map;
  memset(sieve_map, 1, n);
  uint32_t count = 0;
  for (uint32_t i = 2; i < n; i++) {
    if (!sieve_map[i]) continue;
    count++;
    for (uint32_t j = i * i; i < 65536 && j < n; j += i) sieve_map[j] = 0;
  }
  sieve_sum = crc32_update(0, sieve_map, n);
  return count;
}

/* CRC-32 over a pseudo-random buffer of n bytes generated with 64-bit arithmetic (mul, shifts). */
static uint32_t crc_buf(uint32_t n) {
  uint64_t x = 0x9E3779B97F4A7C15ull;
  uint32_t crc = 0;
  uint8_t block[256];
  while (n) {
    uint32_t k = n < sizeof block ? n : sizeof block;
    for (uint32_t i = 0; i < k; i++) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      block[i] = (uint8_t)(x >> 56);
    }
    crc = crc32_update(crc, block, k);
    n -= k;
  }
  return crc;
}

struct job { uint32_t n, sieve_n, crc_n; uint32_t primes, crc, div64; };
static struct job job;

static uintptr_t user_main(uintptr_t arg) {
  struct job *j = (struct job *)(uintptr_t)arg;
  run_classes(j->n);
  j->primes = sieve(j->sieve_n);
  j->crc = crc_buf(j->crc_n);
  uint64_t big = 0xFEDCBA9876543210ull; /* 64-bit division in 32-bit code goes through __udivdi3 */
  j->div64 = (uint32_t)(big / 1000003u) ^ (uint32_t)(big % 1000003u);
  return 0x600D;
}

void kmain(uint32_t magic, uint32_t info) {
  serial_init();
  const char *cl = mb_cmdline(magic, info);
  job.n = cmdline_get_u32(cl, "n", 2000);
  job.sieve_n = cmdline_get_u32(cl, "sieve", 100000);
  job.crc_n = cmdline_get_u32(cl, "crc", 65536);
  trap_init();
  kprintf("alu: %u iterations per class, sieve below %u, CRC-32 of %u bytes (ring 3)\n", job.n, job.sieve_n, job.crc_n);
  uint32_t r = (uint32_t)run_user(user_main, (uintptr_t)&job);
  uint32_t all = 0;
  for (unsigned c = 0; c < NCLASSES; c++) {
    kprintf("alu: %-18s %08x\n", names[c], class_sum[c]);
    all = crc32_update(all, &class_sum[c], 4);
  }
  kprintf("alu: sieve: %u primes, bitmap crc %08x\n", job.primes, sieve_sum);
  kprintf("alu: crc32: %08x\n", job.crc);
  kprintf("alu: div64: %08x\n", job.div64);
  kprintf("alu: summary %08x\n", crc32_update(all, &job, sizeof job));
  debug_exit(r == 0x600D ? EXIT_SUCCESS_CODE : EXIT_FAILURE_CODE);
}
