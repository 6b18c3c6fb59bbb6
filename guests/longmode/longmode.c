/* longmode, 64-bit part: proves it runs as 64-bit code (64-bit registers, arithmetic, EFER.LMA, CS.L). */
#include "rt.h"

void long_main(uint32_t magic, uint32_t info);
void kmain(uint32_t magic, uint32_t info) { long_main(magic, info); }

void long_main(uint32_t magic, uint32_t info) {
  (void)info;
  int ok = magic == MULTIBOOT_BOOTLOADER_MAGIC;
  uint64_t efer = rdmsr(0xC0000080u);
  kprintf("longmode: hello from 64-bit long mode (EFER.LMA|LME=0x%llx)\n", (unsigned long long)(efer & 0x500));
  ok &= (efer >> 10) & 1;

  /* 64-bit register arithmetic: values that do not fit in 32 bits. */
  volatile uint64_t a = 0x123456789ull, b = 0xABCDEF01ull;
  uint64_t prod = a * b;                       /* 0xC379AAAB5AA34E89 */
  uint64_t quot = 0xFFFFFFFFFFFFFFFFull / a;   /* imul/div on 64-bit registers */
  uint64_t rot = (a << 40) | (a >> 24);
  kprintf("longmode: 0x%llx * 0x%llx = 0x%llx\n", (unsigned long long)a, (unsigned long long)b, (unsigned long long)prod);
  kprintf("longmode: 0xffffffffffffffff / 0x%llx = %llu\n", (unsigned long long)a, (unsigned long long)quot);
  kprintf("longmode: rotate = 0x%llx, sizeof(void*) = %u\n", (unsigned long long)rot, (unsigned)sizeof(void *));
  ok &= prod == 0xC379AAAB5AA34E89ull && quot == 3774873600ull && rot == 0x4567890000000123ull;
  kprintf("longmode: %s\n", ok ? "PASS" : "FAIL: wrong 64-bit results");
  debug_exit(ok ? EXIT_SUCCESS_CODE : EXIT_FAILURE_CODE);
}
