/* COM1 16550A driver (polled) and the isa-debug-exit helper. */
#include "rt.h"

#define UART_THR 0 /* transmit holding (DLAB=0) */
#define UART_RBR 0 /* receive buffer (DLAB=0) */
#define UART_DLL 0 /* divisor latch low (DLAB=1) */
#define UART_IER 1
#define UART_DLM 1 /* divisor latch high (DLAB=1) */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20
#define UART_LCR_DLAB 0x80

void serial_init(void) {
  outb(COM1 + UART_IER, 0x00);
  outb(COM1 + UART_LCR, UART_LCR_DLAB);
  outb(COM1 + UART_DLL, 0x01); /* 115200 baud */
  outb(COM1 + UART_DLM, 0x00);
  outb(COM1 + UART_LCR, 0x03); /* 8N1 */
  /* FCR is left alone: enabling the FIFO clears it, which would drop input that arrived before init. */
  outb(COM1 + UART_MCR, 0x03); /* DTR | RTS */
}

void serial_putc_raw(uint8_t c) {
  while (!(inb(COM1 + UART_LSR) & UART_LSR_THRE)) pause();
  outb(COM1 + UART_THR, c);
}

void serial_putc(char c) {
  if (c == '\n') serial_putc_raw('\r');
  serial_putc_raw((uint8_t)c);
}

void serial_puts(const char *s) {
  while (*s) serial_putc(*s++);
}

int serial_try_getc(void) {
  if (!(inb(COM1 + UART_LSR) & UART_LSR_DR)) return -1;
  return inb(COM1 + UART_RBR);
}

int serial_getc(void) {
  int c;
  while ((c = serial_try_getc()) < 0) pause();
  return c;
}

void halt_forever(void) {
  for (;;) __asm__ volatile("cli; hlt");
}

void debug_exit(uint8_t code) {
  outb(DEBUG_EXIT_PORT, code);
  halt_forever(); /* not reached when the debug-exit device is present */
}

void power_off(void) {
  outw(ACPI_PM1A_CNT_PORT, ACPI_SLP_EN | ACPI_SLP_TYP_S5);
  halt_forever(); /* not reached when the port powers the machine off */
}
