/* ticker: computes a running checksum and prints it, one line per `work=N` steps (default 20000), for
 * `lines=N` lines (default 0: forever), then exits with code 0. The output depends only on the arithmetic,
 * so a run that is paused, snapshotted, migrated or watched through the control API prints exactly what an
 * undisturbed run prints (tests recompute it). Keyboard (IRQ 1 through the 8259): on Ctrl+Alt+Del it says so
 * and resets the machine through the i8042 reset line (command 0xFE), as Linux does on that key press. */
#include "rt.h"
#include "trap.h"

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xA0
#define PIC2_DATA 0xA1
#define PIC_EOI 0x20
#define IRQ_BASE 0x20
#define KBD_IRQ 1
#define I8042_DATA 0x60
#define I8042_STATUS 0x64
#define I8042_OBF 0x01
#define I8042_CMD_RESET 0xFE

/* Set-1 scan codes (the controller translates, as after a PC BIOS): make, and break = make | 0x80. */
#define SC_CTRL 0x1D
#define SC_ALT 0x38
#define SC_E0 0xE0
#define SC_DEL 0x53 /* after E0 */

static volatile uint8_t ctrl_down, alt_down, e0_prefix, ctrl_alt_del;

static void kbd_irq(struct trap_frame *f) {
  (void)f;
  while (inb(I8042_STATUS) & I8042_OBF) {
    uint8_t sc = inb(I8042_DATA);
    if (sc == SC_E0) { e0_prefix = 1; continue; }
    uint8_t make = sc & 0x7F, down = !(sc & 0x80);
    if (make == SC_CTRL) ctrl_down = down;
    else if (make == SC_ALT) alt_down = down;
    else if (make == SC_DEL && e0_prefix && down && ctrl_down && alt_down) ctrl_alt_del = 1;
    e0_prefix = 0;
  }
  outb(PIC1_CMD, PIC_EOI);
}

static void pic_init(void) {
  outb(PIC1_CMD, 0x11); outb(PIC2_CMD, 0x11);
  outb(PIC1_DATA, IRQ_BASE); outb(PIC2_DATA, IRQ_BASE + 8);
  outb(PIC1_DATA, 0x04); outb(PIC2_DATA, 0x02);
  outb(PIC1_DATA, 0x01); outb(PIC2_DATA, 0x01);
  outb(PIC1_DATA, (uint8_t)~(1u << KBD_IRQ)); outb(PIC2_DATA, 0xFF);
}

/* One step of the checksum: a linear congruential generator folded into a rotating sum. */
static inline uint32_t step(uint32_t *x, uint32_t sum) {
  *x = *x * 1664525u + 1013904223u;
  sum ^= *x;
  return (sum << 5) | (sum >> 27);
}

void kmain(uint32_t magic, uint32_t info) {
  serial_init();
  const char *cmdline = mb_cmdline(magic, info);
  uint32_t lines = cmdline_get_u32(cmdline, "lines", 0);
  uint32_t work = cmdline_get_u32(cmdline, "work", 20000);
  trap_init();
  trap_set_handler(IRQ_BASE + KBD_IRQ, kbd_irq);
  pic_init();
  sti();
  kprintf("ticker: %u lines of %u steps\n", lines, work);
  uint32_t x = 1, sum = 0;
  for (uint32_t n = 1; lines == 0 || n <= lines; n++) {
    for (uint32_t i = 0; i < work; i++) sum = step(&x, sum);
    kprintf("tick %u sum %08x\n", n, sum);
    if (ctrl_alt_del) {
      kprintf("ticker: ctrl-alt-del, resetting through the i8042\n");
      cli();
      outb(I8042_STATUS, I8042_CMD_RESET);
      halt_forever();
    }
  }
  kprintf("ticker: done, sum %08x\n", sum);
  debug_exit(EXIT_SUCCESS_CODE);
}
