/* memtouch: writes every byte of kib=N KiB (default 1024) of RAM starting at 4 MiB, prints "touched N KiB",
 * then waits for one byte on COM1 and exits with code 0. The VMM-memory benchmark reads the VMM's RSS
 * while it waits: guest memory a guest never touched must cost the host nothing. With `dirty=M`, it
 * keeps rewriting the first M KiB of that memory while it waits, one word per 64 bytes (the
 * migration benchmark's guest that dirties memory as fast as it can). With `rate=R` as well, it dirties R KiB
 * per second instead, a page at a time, paced by the TSC (its rate from CPUID leaf 15H, or tsc_mhz=N). */
#include "rt.h"

#define TOUCH_BASE 0x400000u

static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

void kmain(uint32_t magic, uint32_t info) {
  serial_init();
  uint32_t kib = cmdline_get_u32(mb_cmdline(magic, info), "kib", 1024);
  volatile uint8_t *p = (volatile uint8_t *)TOUCH_BASE;
  uint32_t sum = 0;
  for (uint32_t i = 0; i < kib * 1024u; i++) p[i] = (uint8_t)i;
  for (uint32_t i = 0; i < kib * 1024u; i += 4096) sum += p[i + 1];
  kprintf("memtouch: touched %u KiB (check %u)\n", kib, sum);
  uint32_t dirty = cmdline_get_u32(mb_cmdline(magic, info), "dirty", 0);
  if (dirty > kib) dirty = kib;
  uint32_t rate = cmdline_get_u32(mb_cmdline(magic, info), "rate", 0);
  if (dirty >= 4 && rate) {
    uint32_t r[4], tsc_khz = cmdline_get_u32(mb_cmdline(magic, info), "tsc_mhz", 0) * 1000u;
    cpuid(0, 0, r);
    if (!tsc_khz && r[0] >= 0x15) {
      cpuid(0x15, 0, r); /* TSC Hz = ECX * EBX / EAX */
      if (r[0] && r[1] && r[2]) tsc_khz = r[2] / 1000u * r[1] / r[0];
    }
    if (!tsc_khz) tsc_khz = 1000000u;
    /* TSC ticks per 4 KiB page at R KiB/s: tsc_khz * 1000 * 4 / R, without 64-bit division. */
    uint32_t tpp = (tsc_khz / rate) * 4000u + ((tsc_khz % rate) * 4000u) / rate;
    kprintf("memtouch: dirtying %u KiB/s (%u TSC ticks a page)\n", rate, tpp);
    uint64_t next = rdtsc();
    uint32_t page = 0, round = 1;
    while (serial_try_getc() < 0) {
      while (rdtsc() < next) pause();
      volatile uint32_t *pg = (volatile uint32_t *)(TOUCH_BASE + page * 4096u);
      for (uint32_t i = 0; i < 1024; i += 16) pg[i] = round;
      next += tpp;
      if (++page == dirty / 4) {
        page = 0;
        round++;
      }
    }
  } else if (dirty) {
    volatile uint32_t *w = (volatile uint32_t *)TOUCH_BASE;
    for (uint32_t round = 1; serial_try_getc() < 0; round++)
      for (uint32_t i = 0; i < dirty * 256u; i += 16) w[i] = round;
  } else {
    (void)serial_getc();
  }
  kprintf("memtouch: bye\n");
  debug_exit(0);
}
