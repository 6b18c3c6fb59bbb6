/* fuzz: the guest half of `npm run fuzz` (tests/fuzz/). It reads a scenario from its multiboot module: memory
 * chunks (random code, page tables, data) to copy above 4 MiB, a paging mode, a CPL, flags, registers and entry
 * points. It builds the IDT and TSS for that mode with every vector going to one recovery handler, optionally
 * starts the other CPUs with INIT-SIPI-SIPI at a given vector, and enters the scenario's code. The recovery
 * handler re-enters the next entry point after each exception or interrupt, so one run explores many faults;
 * once the scenario's recovery budget is spent the guest exits with code 0 (status 1). Without a scenario it
 * says so and exits with code 2 (status 5). The VMM must survive whatever the scenario's code does. */
#include "rt.h"
#include "fuzz.h"

#define LAPIC_ICR_LO 0xfee00300u

static void set_gate32(int v, uint32_t off) {
  uint8_t *g = fz_idt + v * 8;
  g[0] = off; g[1] = off >> 8;
  g[2] = FZ_KCODE32; g[3] = 0;
  g[4] = 0; g[5] = 0xEE; /* present, DPL 3 (INT n from ring 3 reaches it), 32-bit interrupt gate */
  g[6] = off >> 16; g[7] = off >> 24;
}

static void set_gate64(int v, uint32_t off) {
  uint8_t *g = fz_idt + v * 16;
  memset(g, 0, 16);
  g[0] = off; g[1] = off >> 8;
  g[2] = FZ_KCODE64; g[3] = 0;
  g[4] = 1;              /* IST1 */
  g[5] = 0xEE;           /* present, DPL 3, 64-bit interrupt gate */
  g[6] = off >> 16; g[7] = off >> 24;
}

/* A 32-bit TSS or a 64-bit TSS descriptor (type 9, available) at GDT slot sel. */
static void set_tss_desc(int sel, uint32_t base, uint32_t limit, int wide) {
  uint32_t *d = (uint32_t *)((uint8_t *)fz_gdt + sel);
  d[0] = (limit & 0xffff) | (base << 16);
  d[1] = ((base >> 16) & 0xff) | 0x8900 | (limit & 0xf0000) | (base & 0xff000000);
  if (wide) { d[2] = 0; d[3] = 0; }
}

static void start_aps(uint32_t vector) {
  mmio_write32(LAPIC_ICR_LO, 0x000C4500);            /* INIT, all excluding self */
  for (volatile int i = 0; i < 10000; i++) {}
  for (int k = 0; k < 2; k++) {
    mmio_write32(LAPIC_ICR_LO, 0x000C4600 | (vector & 0xff)); /* SIPI */
    for (volatile int i = 0; i < 1000; i++) {}
  }
}

void kmain(uint32_t magic, uint32_t info_addr) {
  serial_init();
  const struct multiboot_info *mbi = (const struct multiboot_info *)info_addr;
  if (magic != MULTIBOOT_BOOTLOADER_MAGIC || !(mbi->flags & MB_INFO_MODS) || mbi->mods_count < 1) {
    kprintf("fuzz: no scenario module (tsvmm run --initrd SCENARIO)\n");
    debug_exit(2);
  }
  const uint32_t *mod = (const uint32_t *)mbi->mods_addr;
  uint8_t *p = (uint8_t *)mod[0];
  uint8_t *end = (uint8_t *)mod[1];
  struct fz_header *h = (struct fz_header *)p;
  if ((uint32_t)(end - p) < sizeof *h || h->magic != FZ_MAGIC) {
    kprintf("fuzz: the module is not a scenario\n");
    debug_exit(2);
  }
  uint32_t ram_end = 0x100000 + mbi->mem_upper * 1024;
  uint8_t *c = p + sizeof *h;
  uint32_t copied = 0;
  for (uint32_t i = 0; i < h->nchunks && c + 8 <= end; i++) {
    uint32_t dst = ((uint32_t *)c)[0], len = ((uint32_t *)c)[1];
    c += 8;
    if (len > (uint32_t)(end - c)) break;
    /* Above the harness and inside RAM, or in conventional memory (AP start-up code): never over the harness. */
    int high = dst >= FZ_HARNESS_END && dst < ram_end && len <= ram_end - dst;
    int low = dst >= 0x10000 && dst < 0xa0000 && len <= 0xa0000 - dst;
    if (high || low) {
      memcpy((void *)dst, c, len);
      copied++;
    }
    c += (len + 3) & ~3u;
  }
  if (h->nentries < 1 || h->nentries > FZ_MAX_ENTRIES) h->nentries = 1;
  int wide = h->mode == FZ_LONG64;
  kprintf("fuzz: mode %u cpl %u entries %u chunks %u/%u\n", h->mode, h->cpl, h->nentries, copied, h->nchunks);

  for (int v = 0; v < 256; v++) {
    if (wide) set_gate64(v, (uint32_t)fz_handler64);
    else set_gate32(v, (uint32_t)fz_handler32);
  }
  /* TSS: ring-0 stack for interrupts from ring 3, IST1 (64-bit), no I/O bitmap (I/O base past the limit). */
  memset(fz_tss32, 0, 128);
  *(uint32_t *)(fz_tss32 + 4) = (uint32_t)fz_kstack_top;
  *(uint32_t *)(fz_tss32 + 8) = FZ_KDATA;
  *(uint16_t *)(fz_tss32 + 102) = 104;
  memset(fz_tss64, 0, 128);
  *(uint32_t *)(fz_tss64 + 4) = (uint32_t)fz_kstack_top;
  *(uint32_t *)(fz_tss64 + 36) = (uint32_t)fz_istack_top;
  *(uint16_t *)(fz_tss64 + 102) = 104;
  set_tss_desc(FZ_TSS32, (uint32_t)fz_tss32, 103, 0);
  set_tss_desc(FZ_TSS64, (uint32_t)fz_tss64, 103, 1);

  if (h->sipi != FZ_NO_SIPI) start_aps(h->sipi);
  fz_launch(h);
}
