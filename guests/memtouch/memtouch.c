/* memtouch: writes every byte of kib=N KiB (default 1024) of RAM starting at 4 MiB, prints "touched N KiB",
 * then waits for one byte on COM1 and exits with code 0. The VMM-memory benchmark reads the VMM's RSS
 * while it waits: guest memory a guest never touched must cost the host nothing. With `dirty=M`, it
 * keeps rewriting the first M KiB of that memory while it waits, one word per 64 bytes (the
 * migration benchmark's guest that dirties memory as fast as it can). */
#include "rt.h"

#define TOUCH_BASE 0x400000u

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
  if (dirty) {
    volatile uint32_t *w = (volatile uint32_t *)TOUCH_BASE;
    for (uint32_t round = 1; serial_try_getc() < 0; round++)
      for (uint32_t i = 0; i < dirty * 256u; i += 16) w[i] = round;
  } else {
    (void)serial_getc();
  }
  kprintf("memtouch: bye\n");
  debug_exit(0);
}
