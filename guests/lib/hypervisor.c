/* Hypervisor detection from CPUID (leaf 1 ECX bit 31, signature at leaf 0x40000000). */
#include "rt.h"

int hv_is_kvm(void) {
  uint32_t r[4];
  cpuid(1, 0, r);
  if (!(r[2] & (1u << 31))) return 0;
  cpuid(0x40000000u, 0, r);
  return r[1] == 0x4B4D564Bu && r[2] == 0x564B4D56u && r[3] == 0x0000004Du; /* "KVMK" "VMKV" "M\0\0\0" */
}
