/* Shared freestanding runtime for tsvmm guests (32-bit and 64-bit builds). */
#ifndef GUEST_RT_H
#define GUEST_RT_H
#include <stdint.h>
#include <stddef.h>
#include <stdarg.h>

#define NORETURN __attribute__((noreturn))
#define UNUSED __attribute__((unused))
#define ALIGNED(n) __attribute__((aligned(n)))

/* ---- port I/O ---- */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

/* ---- MMIO ---- */
static inline uint32_t mmio_read32(uintptr_t a) { return *(volatile uint32_t *)a; }
static inline void mmio_write32(uintptr_t a, uint32_t v) { *(volatile uint32_t *)a = v; }

/* ---- CPU helpers ---- */
static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
  __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
static inline uint64_t rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v) {
  __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void pause(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void invlpg(uintptr_t a) { __asm__ volatile("invlpg (%0)" ::"r"(a) : "memory"); }
#define READ_CR(n) ({ uintptr_t _v; __asm__ volatile("mov %%cr" #n ", %0" : "=r"(_v)); _v; })
#define WRITE_CR(n, v) __asm__ volatile("mov %0, %%cr" #n ::"r"((uintptr_t)(v)) : "memory")

/* ---- QEMU isa-debug-exit (port 0xf4): status = (code << 1) | 1 ---- */
#define DEBUG_EXIT_PORT 0xf4
#define EXIT_SUCCESS_CODE 0 /* process status 1 */
#define EXIT_FAILURE_CODE 1 /* process status 3 */
NORETURN void debug_exit(uint8_t code);
NORETURN void halt_forever(void);

/* ---- Power off (VMM exit status 0): SLP_EN with SLP_TYP = S5 in the ACPI PM1a control register.
   0x604 is where SeaBIOS puts it on QEMU's i440FX machine (PM base 0x600); tsvmm has it there too.
   QEMU's DSDT gives \_S5 the sleep type 0. ---- */
#define ACPI_PM1A_CNT_PORT 0x604
#define ACPI_SLP_EN 0x2000
#define ACPI_SLP_TYP_S5 (0 << 10)
NORETURN void power_off(void);

/* ---- COM1 16550A ---- */
#define COM1 0x3f8
void serial_init(void);
void serial_putc(char c);           /* '\n' is sent as "\r\n" */
void serial_putc_raw(uint8_t c);
void serial_puts(const char *s);
int serial_getc(void);              /* blocks (polls LSR.DR) */
int serial_try_getc(void);          /* -1 if nothing received */

/* ---- formatting: %c %s %d %i %u %x %X %p %%, flags 0 - +, width, l/ll/z ---- */
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kvprintf(const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* 64-bit unsigned division without libgcc (works in 32-bit code). */
uint64_t udiv64(uint64_t n, uint64_t d, uint64_t *rem);

/* ---- strings ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/* ---- multiboot v1 ---- */
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u
struct multiboot_info {
  uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
  uint32_t syms[4];
  uint32_t mmap_length, mmap_addr;
} __attribute__((packed));
#define MB_INFO_MEMORY (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MODS (1u << 3)
#define MB_INFO_MMAP (1u << 6)
/* Entry point of every guest: called from the assembly entry with the boot registers. */
void kmain(uint32_t magic, uint32_t info_addr);
const char *mb_cmdline(uint32_t magic, uint32_t info_addr); /* "" if none */
/* Finds "key=value" in a cmdline; copies value into out (NUL-terminated); returns 1 if found. */
int cmdline_get(const char *cmdline, const char *key, char *out, size_t outlen);
/* Unsigned decimal/hex (0x) value of "key=N", or def if missing/bad. */
uint32_t cmdline_get_u32(const char *cmdline, const char *key, uint32_t def);
int cmdline_has_word(const char *cmdline, const char *word);

/* ---- setjmp/longjmp (used to resume after an expected fault) ---- */
typedef uintptr_t jmp_buf[8];
int setjmp(jmp_buf jb) __attribute__((returns_twice));
NORETURN void longjmp(jmp_buf jb, int v);

/* ---- fw_cfg (QEMU: selector 0x510 16-bit, data 0x511) ---- */
#define FW_CFG_PORT_SEL 0x510
#define FW_CFG_PORT_DATA 0x511
#define FW_CFG_SIGNATURE 0x0000
#define FW_CFG_RAM_SIZE 0x0003
#define FW_CFG_NB_CPUS 0x0005
void fw_cfg_read(uint16_t key, void *buf, size_t n);
int fw_cfg_present(void);

/* ---- hypervisor detection ---- */
/* 1 if CPUID reports the KVM signature (leaf 0x40000000 = "KVMKVMKVM\0\0\0"). Used to pick instructions that
 * this host's KVM can emulate in ring 0 (e.g. SYSEXITQ instead of IRETQ/SYSRETQ); never changes output. */
int hv_is_kvm(void);

/* ---- spinlock ---- */
typedef struct { volatile uint32_t v; } spinlock_t;
static inline void spin_lock(spinlock_t *l) {
  uint32_t one = 1;
  for (;;) {
    uint32_t old = one;
    __asm__ volatile("xchg %0, %1" : "+r"(old), "+m"(l->v) : : "memory");
    if (old == 0) return;
    while (l->v) pause();
  }
}
static inline void spin_unlock(spinlock_t *l) { __asm__ volatile("" ::: "memory"); l->v = 0; }

#endif
