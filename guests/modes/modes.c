/* modes: walks the CPU through every mode and back, printing in each: long mode (64-bit C) -> compatibility
 * mode -> 32-bit protected mode without paging -> 16-bit protected mode -> real mode -> 32-bit protected mode
 * -> long mode, rounds=N times (default 2). See switch.S for the transitions. */
#include "rt.h"

#define TRAMP_BASE 0x7000
#define MSR_EFER 0xC0000080u
extern char tramp_start[], tramp_end[];
void mode_roundtrip(void);

static void report64(const char *what) {
  uint64_t efer = rdmsr(MSR_EFER);
  volatile uint64_t x = 0xFFFFFFFFull;
  kprintf("modes: [64-bit] %s, EFER.LME=%u LMA=%u, 0xffffffff+1=0x%llx\n", what, (unsigned)(efer >> 8) & 1,
          (unsigned)(efer >> 10) & 1, (unsigned long long)(x + 1));
}

void kmain(uint32_t magic, uint32_t info) {
  serial_init();
  uint32_t rounds = cmdline_get_u32(mb_cmdline(magic, info), "rounds", 2);
  if (rounds > 100) rounds = 100;
  memcpy((void *)TRAMP_BASE, tramp_start, (size_t)(tramp_end - tramp_start));
  report64("long mode");
  for (uint32_t r = 1; r <= rounds; r++) {
    mode_roundtrip();
    char what[40];
    ksnprintf(what, sizeof what, "back in long mode (round %u)", r);
    report64(what);
  }
  uint64_t efer = rdmsr(MSR_EFER);
  int ok = ((efer >> 10) & 1) == 1;
  kprintf("modes: %s\n", ok ? "all as expected" : "FAIL");
  debug_exit(ok ? EXIT_SUCCESS_CODE : EXIT_FAILURE_CODE);
}
