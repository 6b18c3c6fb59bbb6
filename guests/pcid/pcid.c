/* pcid: process-context identifiers. From the runtime's long mode it makes a root of its own (the runtime's PML4
 * entries plus entry 1, which maps two 4 KiB test pages at 512 GiB: one non-global, one global), then checks:
 * CPUID's PCID and INVPCID bits; MOV CR3 with bit 63 while CR4.PCIDE = 0 (#GP); setting CR4.PCIDE while
 * CR3[11:0] != 0 (#GP); with PCIDE: CR3[11:0] is the PCID and bit 63 reads back 0; a PCID never uses a
 * translation cached under another (after a no-flush switch to a fresh PCID the remapped page shows its new frame);
 * a MOV CR3 without bit 63 drops the PCID's translations; INVLPG drops global ones; INVPCID types 0-3 drop what the
 * SDM says they must; INVPCID's #GP cases (type > 3, reserved descriptor bits, a non-canonical type-0 address, CPL 3,
 * a PCID other than 0 for types 0 and 1 once PCIDE is cleared again). What a processor may keep or drop as it likes
 * (a no-flush switch back to a PCID finding its old translation) is printed only with the word `kept` on the
 * command line (tsvmm keeps it). QEMU 7.2's TCG offers no PCID: no QEMU run. Self-checking. */
#include "rt.h"
#include "trap.h"
#include "user.h"

#define PTE_P 1ull
#define PTE_W 2ull
#define PTE_G 0x100ull
#define CR4_PGE (1u << 7)
#define CR4_PCIDE (1u << 17)
#define NOFLUSH (1ull << 63)
#define VA_P 0x8000000000ull /* PML4 entry 1, non-global */
#define VA_G 0x8000001000ull /* global */

extern uint64_t boot_pml4[512];

static uint64_t root[512] ALIGNED(4096), pdpt[512] ALIGNED(4096), pd[512] ALIGNED(4096), pt[512] ALIGNED(4096);
static uint64_t frames[8][512] ALIGNED(4096);
static int failures;

static void check(const char *what, int ok) {
  kprintf("pcid: %-62s %s\n", what, ok ? "ok" : "FAIL");
  if (!ok) failures++;
}

/* ---- faults ---- */
static jmp_buf jb;
static volatile uint64_t f_vec, f_err;
static void on_fault(struct trap_frame *f) {
  f_vec = f->vector;
  f_err = f->error;
  longjmp(jb, 1);
}

static int attempt(uint64_t (*fn)(uint64_t), uint64_t arg, int user) {
  f_vec = ~0ull;
  if (setjmp(jb)) return 1;
  if (user) run_user(fn, arg);
  else fn(arg);
  return 0;
}

static void expect_gp(const char *what, int faulted) {
  if (!faulted) kprintf("pcid: %-62s no fault\n", what);
  else kprintf("pcid: %-62s %s(0x%x)\n", what, f_vec == 13 ? "#GP" : "vector", (unsigned)f_err);
  if (!faulted || f_vec != 13 || f_err != 0) {
    kprintf("pcid: ^ FAIL: expected #GP(0)\n");
    failures++;
  }
}

static uint64_t do_cr3(uint64_t v) {
  WRITE_CR(3, v);
  return 0;
}
static uint64_t do_cr4(uint64_t v) {
  WRITE_CR(4, v);
  return 0;
}

static struct {
  uint64_t pcid, addr;
} ALIGNED(16) desc;
static uint64_t do_invpcid(uint64_t type) {
  __asm__ volatile("invpcid %0, %1" ::"m"(desc), "r"(type) : "memory");
  return 0;
}
static int invpcid(uint64_t type, uint64_t pcid, uint64_t addr) {
  desc.pcid = pcid;
  desc.addr = addr;
  return attempt(do_invpcid, type, 0);
}

/* Frame n's first word is 0x100 + n. */
static void map(uint64_t va, unsigned n, uint64_t flags) { pt[(va >> 12) & 511] = (uint64_t)(uintptr_t)frames[n] | PTE_P | PTE_W | flags; }
static unsigned at(uint64_t va) { return (unsigned)(*(volatile uint64_t *)va - 0x100); }
static void cr3(uint64_t pcid, int keep) { WRITE_CR(3, (uint64_t)(uintptr_t)root | pcid | (keep ? NOFLUSH : 0)); }

void kmain(uint32_t magic, uint32_t info) {
  const char *cl = mb_cmdline(magic, info);
  const int kept = cmdline_has_word(cl, "kept");
  serial_init();
  trap_init();
  trap_set_handler(13, on_fault);
  uint32_t r[4], r7[4];
  cpuid(1, 0, r);
  cpuid(7, 0, r7);
  const int has_pcid = (r[2] >> 17) & 1, has_invpcid = (r7[1] >> 10) & 1;
  kprintf("pcid: CPUID.01H:ECX.PCID=%d CPUID.(07H,0):EBX.INVPCID=%d\n", has_pcid, has_invpcid);
  if (!has_pcid || !has_invpcid) {
    kprintf("pcid: FAILED: not offered\n");
    debug_exit(EXIT_FAILURE_CODE);
  }
  for (unsigned n = 0; n < 8; n++) frames[n][0] = 0x100 + n;
  for (unsigned i = 0; i < 512; i++) root[i] = boot_pml4[i];
  root[1] = (uint64_t)(uintptr_t)pdpt | PTE_P | PTE_W;
  pdpt[0] = (uint64_t)(uintptr_t)pd | PTE_P | PTE_W;
  pd[0] = (uint64_t)(uintptr_t)pt | PTE_P | PTE_W;
  map(VA_P, 0, 0);
  map(VA_G, 1, PTE_G);
  WRITE_CR(4, READ_CR(4) | CR4_PGE);
  cr3(0, 0);

  expect_gp("MOV CR3 with bit 63 while CR4.PCIDE = 0", attempt(do_cr3, (uint64_t)(uintptr_t)root | NOFLUSH, 0));
  WRITE_CR(3, (uint64_t)(uintptr_t)root | 0x18); /* PWT and PCD */
  expect_gp("set CR4.PCIDE while CR3[11:0] != 0", attempt(do_cr4, READ_CR(4) | CR4_PCIDE, 0));
  cr3(0, 0);
  check("set CR4.PCIDE with PCID 0", !attempt(do_cr4, READ_CR(4) | CR4_PCIDE, 0) && (READ_CR(4) & CR4_PCIDE) != 0);
  cr3(0x123, 1);
  check("MOV CR3, bit 63 and PCID 0x123: CR3 reads back without bit 63", READ_CR(3) == ((uint64_t)(uintptr_t)root | 0x123));

  /* Translations are per PCID. */
  cr3(1, 0);
  unsigned a = at(VA_P);
  map(VA_P, 2, 0); /* no invalidation */
  cr3(2, 1);
  check("PCID 1 cached frame 0; a fresh PCID 2 walks: frame 2", a == 0 && at(VA_P) == 2);
  map(VA_P, 3, 0);
  cr3(1, 1);
  unsigned back = at(VA_P);
  check("no-flush switch back to PCID 1: frame 0, or a walk (frame 3)", back == 0 || back == 3);
  if (kept) check("  (tsvmm) PCID 1 kept its translation", back == 0);
  cr3(1, 0);
  check("MOV CR3 without bit 63 to PCID 1: frame 3", at(VA_P) == 3);

  /* Global translations, INVLPG. */
  (void)at(VA_G);
  map(VA_G, 4, PTE_G);
  map(VA_P, 5, 0);
  __asm__ volatile("invlpg (%0)" ::"r"(VA_G) : "memory");
  check("INVLPG drops the global translation", at(VA_G) == 4);
  cr3(2, 1);
  check("  under PCID 2 too", at(VA_G) == 4);

  /* INVPCID. */
  (void)at(VA_P);
  map(VA_P, 6, 0);
  check("INVPCID type 0 (PCID 2, the address): frame 6", !invpcid(0, 2, VA_P) && at(VA_P) == 6);
  map(VA_P, 7, 0);
  check("INVPCID type 1 (PCID 2): frame 7", !invpcid(1, 2, 0) && at(VA_P) == 7);
  map(VA_P, 0, 0);
  map(VA_G, 5, PTE_G);
  check("INVPCID type 3 (all but global): frame 0", !invpcid(3, 0, 0) && at(VA_P) == 0);
  check("INVPCID type 2 (all): the global page's frame 5", !invpcid(2, 0, 0) && at(VA_G) == 5);
  cr3(1, 1);
  map(VA_P, 1, 0);
  check("  and PCID 1's translations (frame 1)", at(VA_P) == 1);

  expect_gp("INVPCID type 4", invpcid(4, 0, 0));
  expect_gp("INVPCID with descriptor bit 12 set", invpcid(1, 0x1001, 0));
  expect_gp("INVPCID type 0 with a non-canonical address", invpcid(0, 1, 1ull << 47));
  check("INVPCID type 1 ignores the address", !invpcid(1, 1, 1ull << 47));
  desc.pcid = 0;
  expect_gp("INVPCID at CPL 3", attempt(do_invpcid, 2, 1));

  cr3(0, 0);
  check("clear CR4.PCIDE", !attempt(do_cr4, READ_CR(4) & ~CR4_PCIDE, 0));
  expect_gp("INVPCID type 0 for PCID 1 without PCIDE", invpcid(0, 1, VA_P));
  expect_gp("INVPCID type 1 for PCID 1 without PCIDE", invpcid(1, 1, 0));
  check("INVPCID type 3 without PCIDE", !invpcid(3, 1, 0));

  kprintf("pcid: %s\n", failures ? "FAILED" : "all as expected");
  debug_exit(failures ? EXIT_FAILURE_CODE : EXIT_SUCCESS_CODE);
}
