/* exit-code: exits through isa-debug-exit with the code given as code=N on the cmdline (default 42 -> status 85).
 * Codes above 127 cannot be told apart by a process status ((code << 1) | 1 is truncated to 8 bits). */
#include "rt.h"

#define DEFAULT_CODE 42

void kmain(uint32_t magic, uint32_t info) {
  serial_init();
  const char *cl = mb_cmdline(magic, info);
  uint32_t code = cmdline_get_u32(cl, "code", DEFAULT_CODE);
  if (code > 255) code = 255;
  kprintf("exit-code: exiting with code %u (status %u)\n", code, ((code << 1) | 1) & 0xFF);
  debug_exit((uint8_t)code);
}
