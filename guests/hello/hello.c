/* hello: the smallest guest. Prints one line on COM1 and exits through isa-debug-exit with code 0 (status 1). */
#include "rt.h"

void kmain(uint32_t magic, uint32_t info) {
  (void)info;
  serial_init();
  kprintf("Hello from tsvmm guest!\n");
  debug_exit(magic == MULTIBOOT_BOOTLOADER_MAGIC ? EXIT_SUCCESS_CODE : EXIT_FAILURE_CODE);
}
