/* echo: reads bytes from COM1 and echoes them back unchanged until Ctrl-D (0x04) or a line "quit", then prints
 * the number of bytes echoed (the terminator excluded). Default: polls LSR.DR. With "irq" on the cmdline the
 * receiver interrupt (IER.ERBFI, IRQ 4 through the 8259 PIC, vector 0x24) wakes the CPU from HLT instead. */
#include "rt.h"
#include "trap.h"

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xA0
#define PIC2_DATA 0xA1
#define PIC_EOI 0x20
#define IRQ_BASE 0x20
#define COM1_IRQ 4
#define UART_IER_ERBFI 0x01
#define UART_MCR_OUT2 0x08 /* gates the 16550's interrupt output on PC hardware */

static volatile uint32_t irq_count;
static uint8_t ring[256];
static volatile uint32_t ring_head, ring_tail;

static void com1_irq(struct trap_frame *f) {
  (void)f;
  int c;
  while ((c = serial_try_getc()) >= 0) ring[ring_head++ & 255] = (uint8_t)c;
  irq_count++;
  outb(PIC1_CMD, PIC_EOI);
}

static void pic_init(void) {
  outb(PIC1_CMD, 0x11); outb(PIC2_CMD, 0x11);           /* ICW1: edge, cascade, ICW4 */
  outb(PIC1_DATA, IRQ_BASE); outb(PIC2_DATA, IRQ_BASE + 8); /* ICW2: vector bases */
  outb(PIC1_DATA, 0x04); outb(PIC2_DATA, 0x02);         /* ICW3: slave on IRQ2 */
  outb(PIC1_DATA, 0x01); outb(PIC2_DATA, 0x01);         /* ICW4: 8086 mode */
  outb(PIC1_DATA, (uint8_t)~(1u << COM1_IRQ)); outb(PIC2_DATA, 0xFF);
}

static int next_byte(int use_irq) {
  if (!use_irq) return serial_getc();
  for (;;) {
    cli();
    if (ring_tail != ring_head) {
      int c = ring[ring_tail++ & 255];
      sti();
      return c;
    }
    __asm__ volatile("sti; hlt" ::: "memory"); /* STI's shadow makes the pair atomic */
  }
}

void kmain(uint32_t magic, uint32_t info) {
  serial_init();
  int use_irq = cmdline_has_word(mb_cmdline(magic, info), "irq");
  kprintf("echo: ready (%s); end with Ctrl-D or a line \"quit\"\n", use_irq ? "interrupt-driven" : "polling");
  if (use_irq) {
    trap_init();
    trap_set_handler(IRQ_BASE + COM1_IRQ, com1_irq);
    pic_init();
    outb(COM1 + 4, 0x03 | UART_MCR_OUT2);
    outb(COM1 + 1, UART_IER_ERBFI);
    sti();
  }
  uint32_t count = 0;
  char line[5];
  uint32_t line_len = 0;
  for (;;) {
    int c = next_byte(use_irq);
    if (c == 0x04) break;
    serial_putc_raw((uint8_t)c);
    count++;
    if (c == '\n' || c == '\r') {
      if (line_len == 4 && !memcmp(line, "quit", 4)) { count -= 5; break; }
      line_len = 0;
    } else if (line_len < 5) {
      line[line_len++] = (char)c;
    } else {
      line_len = 5;
    }
  }
  if (use_irq) {
    cli();
    outb(COM1 + 1, 0);
  }
  kprintf("\necho: %u bytes%s\n", count, use_irq ? (irq_count ? " (irq)" : " (irq: none seen)") : "");
  debug_exit(EXIT_SUCCESS_CODE);
}
