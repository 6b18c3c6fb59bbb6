/* QEMU fw_cfg, legacy port interface: write a 16-bit key to 0x510, read bytes from 0x511. */
#include "rt.h"

void fw_cfg_read(uint16_t key, void *buf, size_t n) {
  outw(FW_CFG_PORT_SEL, key);
  uint8_t *p = buf;
  while (n--) *p++ = inb(FW_CFG_PORT_DATA);
}

int fw_cfg_present(void) {
  char sig[4];
  fw_cfg_read(FW_CFG_SIGNATURE, sig, 4);
  return sig[0] == 'Q' && sig[1] == 'E' && sig[2] == 'M' && sig[3] == 'U';
}
