/* demo: the default guest of `tsvmm run`. A short banner about tsvmm and what the guest sees of its machine. */
#include "rt.h"

static void cpuid_str(uint32_t leaf, char *out) { /* 12-char vendor-style string from EBX, EDX, ECX */
  uint32_t r[4];
  cpuid(leaf, 0, r);
  memcpy(out, &r[1], 4);
  memcpy(out + 4, leaf >= 0x40000000 && leaf < 0x50000000 ? &r[2] : &r[3], 4);
  memcpy(out + 8, leaf >= 0x40000000 && leaf < 0x50000000 ? &r[3] : &r[2], 4);
  out[12] = 0;
}

static const char *trim(const char *s) {
  while (*s == ' ') s++;
  return s;
}

void kmain(uint32_t magic, uint32_t info) {
  serial_init();
  const struct multiboot_info *mbi = (const struct multiboot_info *)(uintptr_t)info;
  kprintf("\n");
  kprintf("  tsvmm demo guest\n");
  kprintf("  ----------------\n");
  kprintf("  tsvmm is a virtual machine monitor written in TypeScript: it runs x86-64 guests on Linux KVM\n");
  kprintf("  or on its own x86 interpreter. This guest is a small multiboot kernel from guests/demo.\n\n");
  kprintf("  CPU mode     : 64-bit long mode (switched from the 32-bit multiboot entry)\n");

  char vendor[13];
  uint32_t r[4];
  cpuid(0, 0, r);
  uint32_t max_leaf = r[0];
  cpuid_str(0, vendor);
  kprintf("  CPU vendor   : %s (max leaf 0x%x)\n", vendor, max_leaf);
  cpuid(0x80000000u, 0, r);
  if (r[0] >= 0x80000004u) {
    char brand[49];
    for (uint32_t i = 0; i < 3; i++) {
      cpuid(0x80000002u + i, 0, r);
      memcpy(brand + 16 * i, r, 16);
    }
    brand[48] = 0;
    kprintf("  CPU brand    : %s\n", trim(brand));
  }
  cpuid(1, 0, r);
  kprintf("  CPU signature: family %u model %u stepping %u, APIC id %u\n",
          ((r[0] >> 8) & 0xF) + (((r[0] >> 8) & 0xF) == 0xF ? (r[0] >> 20) & 0xFF : 0),
          ((r[0] >> 4) & 0xF) | (((r[0] >> 16) & 0xF) << 4), r[0] & 0xF, r[1] >> 24);
  if (r[2] & (1u << 31)) {
    char hv[13];
    cpuid_str(0x40000000u, hv);
    kprintf("  Hypervisor   : yes, \"%s\"\n", hv);
  } else {
    kprintf("  Hypervisor   : not reported (CPUID.1:ECX[31] = 0)\n");
  }
  if (magic == MULTIBOOT_BOOTLOADER_MAGIC && (mbi->flags & MB_INFO_MEMORY)) {
    uint32_t kib = mbi->mem_upper + 1024;
    kprintf("  RAM          : %u MiB (mem_lower %u KiB, mem_upper %u KiB)\n", kib / 1024, mbi->mem_lower, mbi->mem_upper);
  } else {
    kprintf("  RAM          : unknown (no multiboot memory info)\n");
  }
  if (fw_cfg_present()) {
    uint16_t cpus = 0;
    fw_cfg_read(FW_CFG_NB_CPUS, &cpus, 2);
    kprintf("  CPUs         : %u (fw_cfg)\n", cpus);
  }
  kprintf("  Command line : \"%s\"\n", mb_cmdline(magic, info));
  if (magic != MULTIBOOT_BOOTLOADER_MAGIC) {
    kprintf("\n  Not booted by a multiboot loader (magic 0x%x): exiting with code 1 (status 3).\n", magic);
    debug_exit(EXIT_FAILURE_CODE);
  }
  kprintf("\n  All done; powering off (tsvmm exits with status 0).\n");
  power_off();
}
