/* paging-edge: reads, writes, instruction fetches and page walks where there is no RAM. On a PC, a read that no
 * memory or device decodes returns all-ones and a write is dropped; the page walker reads paging-structure entries
 * over the same bus, so an entry read from nowhere is all-ones and the walk goes on with it (the SDM's rules for
 * that entry apply: present, and under PAE reserved bits set, so #PF with RSVD). tsvmm models exactly that; QEMU
 * reads 0 from unassigned memory, hence no QEMU comparison for this guest.
 *   - paging off: a read of the MMIO hole;
 *   - 32-bit paging, a PDE whose page table is in the hole: the PTE reads all-ones, so the page is frame 0xfffff000
 *     (no RAM there either): reads all-ones, writes vanish, no fault;
 *   - a PSE-36 4 MiB page above 4 GiB with no RAM behind it: no fault and no #UD on a write; fetching code from it
 *     reads FF FF, which is #UD;
 *   - PAE, a PDE whose page table is in the hole: #PF with P and RSVD set;
 *   - PAE, a 2 MiB page above 4 GiB with no RAM: reads all-ones, writes vanish.
 * Each result is checked; a mismatch prints FAIL and exits with code 1. */
#include "rt.h"
#include "trap.h"

#define PTE_P 1ull
#define PTE_W 2ull
#define PTE_PS 0x80ull
#define CR0_PG (1u << 31)
#define CR4_PSE (1u << 4)
#define CR4_PAE (1u << 5)
#define PF_P 1u
#define PF_W 2u
#define PF_RSVD 8u
#define HOLE 0xe0000000u /* nothing decodes here */
#define VA 0x50000000u
#define NONE 0xffffffffu

static uint32_t pd32[1024] ALIGNED(4096);
static uint64_t pdpt[4] ALIGNED(32);
static uint64_t pae_pd[4][512] ALIGNED(4096);
static int failures;

static jmp_buf jb;
static volatile uint32_t f_vec, f_err, f_cr2;
static void on_fault(struct trap_frame *f) {
  f_vec = f->vector;
  f_err = f->error;
  f_cr2 = READ_CR(2);
  longjmp(jb, 1);
}

enum op { READ, WRITE, STORES, EXEC };

/* Does `op` at va; expects either the value `value` (no fault) or exception `vec` with error code `err`. */
static void expect(const char *what, enum op op, uintptr_t va, uint32_t value, uint32_t vec, uint32_t err) {
  static const uint8_t code[] = {0xb8, 0x0d, 0x60, 0x00, 0x00, 0xc3}; /* mov $0x600d, %eax; ret */
  f_vec = NONE;
  volatile uint32_t got = 0;
  if (!setjmp(jb)) {
    switch (op) {
      case READ: got = *(volatile uint32_t *)va; break;
      case WRITE: *(volatile uint32_t *)va = 0x5a5a5a5au; got = *(volatile uint32_t *)va; break;
      case STORES: /* every width, often enough for the emulator to compile the loop, then REP STOSD */
        for (int i = 0; i < 100; i++) {
          *(volatile uint8_t *)(va + i) = (uint8_t)i;
          *(volatile uint16_t *)(va + 0x100 + 2 * i) = (uint16_t)i;
          *(volatile uint32_t *)(va + 0x200 + 4 * i) = (uint32_t)i;
        }
        { uint32_t n = 64, d = va + 0x400; __asm__ volatile("rep stosl" : "+c"(n), "+D"(d) : "a"(0x11223344u) : "memory"); }
        got = *(volatile uint32_t *)(va + 0x400);
        break;
      case EXEC: memcpy((void *)va, code, sizeof code); got = ((uint32_t(*)(void))va)(); break;
    }
  }
  int ok;
  kprintf("%-56s ", what);
  if (f_vec != NONE) {
    if (f_vec == 14) kprintf("vector %u error 0x%x cr2 0x%08x", f_vec, f_err, f_cr2);
    else kprintf("vector %u", f_vec);
    ok = f_vec == vec && (vec != 14 || (f_err == err && f_cr2 == va));
  } else {
    kprintf("no fault, reads 0x%08x", got);
    ok = vec == NONE && got == value;
  }
  kprintf("%s\n", ok ? "" : "  FAIL");
  failures += !ok;
}

static void paging_off(void) { WRITE_CR(0, READ_CR(0) & ~CR0_PG); }

static void paging32(void) {
  paging_off();
  for (unsigned i = 0; i < 1024; i++) pd32[i] = 0;
  for (unsigned i = 0; i < 4; i++) pd32[i] = (i << 22) | PTE_P | PTE_W | PTE_PS; /* identity 16 MiB */
  WRITE_CR(4, (READ_CR(4) & ~CR4_PAE) | CR4_PSE);
  WRITE_CR(3, (uintptr_t)pd32);
  WRITE_CR(0, READ_CR(0) | CR0_PG);
}

static void pae(void) {
  paging_off();
  memset(pae_pd, 0, sizeof pae_pd);
  for (unsigned i = 0; i < 4; i++) pdpt[i] = (uintptr_t)pae_pd[i] | PTE_P;
  for (unsigned i = 0; i < 8; i++) pae_pd[0][i] = ((uint64_t)i << 21) | PTE_P | PTE_W | PTE_PS; /* identity 16 MiB */
  WRITE_CR(4, READ_CR(4) | CR4_PAE);
  WRITE_CR(3, (uintptr_t)pdpt);
  WRITE_CR(0, READ_CR(0) | CR0_PG);
}

void kmain(uint32_t magic, uint32_t info) {
  (void)magic; (void)info;
  serial_init();
  trap_init();
  trap_set_handler(6, on_fault);
  trap_set_handler(13, on_fault);
  trap_set_handler(14, on_fault);
  kprintf("paging-edge: accesses and page walks where there is no RAM (reads all-ones, writes dropped)\n");

  expect("paging off: read of physical 0xe0000000", READ, HOLE, NONE, NONE, 0);

  paging32();
  pd32[VA >> 22] = HOLE | PTE_P | PTE_W;
  invlpg(VA);
  expect("32-bit, page table in the hole: read", READ, VA + 0x48c, NONE, NONE, 0);
  expect("32-bit, page table in the hole: write", WRITE, VA + 0x490, NONE, NONE, 0);
  pd32[VA >> 22] = (1u << 22) | (1u << 13) | PTE_P | PTE_W | PTE_PS; /* PSE-36: physical 0x1_0040_0000 */
  invlpg(VA);
  expect("32-bit PSE-36 page above 4 GiB, no RAM: read", READ, VA + 0x10, NONE, NONE, 0);
  expect("32-bit PSE-36 page above 4 GiB, no RAM: write", WRITE, VA + 0x20, NONE, NONE, 0);
  expect("32-bit PSE-36 page above 4 GiB, no RAM: stores", STORES, VA + 0x40, NONE, NONE, 0);
  expect("32-bit PSE-36 page above 4 GiB, no RAM: fetch (FF FF)", EXEC, VA + 0x800, 0, 6, 0);

  pae();
  pae_pd[VA >> 30][(VA >> 21) & 511] = HOLE | PTE_P | PTE_W;
  invlpg(VA);
  expect("PAE, page table in the hole: read", READ, VA + 0x918, 0, 14, PF_P | PF_RSVD);
  expect("PAE, page table in the hole: write", WRITE, VA + 0x920, 0, 14, PF_P | PF_W | PF_RSVD);
  pae_pd[VA >> 30][(VA >> 21) & 511] = 0x100000000ull | PTE_P | PTE_W | PTE_PS;
  invlpg(VA);
  expect("PAE 2 MiB page above 4 GiB, no RAM: read", READ, VA + 0x30, NONE, NONE, 0);
  expect("PAE 2 MiB page above 4 GiB, no RAM: write", WRITE, VA + 0x40, NONE, NONE, 0);

  paging_off();
  kprintf("paging-edge: %s\n", failures ? "FAIL" : "all as expected");
  debug_exit(failures ? EXIT_FAILURE_CODE : EXIT_SUCCESS_CODE);
}
