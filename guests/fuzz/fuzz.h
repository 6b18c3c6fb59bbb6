/* The scenario a fuzz run hands the guest as its multiboot module; tests/fuzz/scenario.ts writes the same layout. */
#ifndef FUZZ_H
#define FUZZ_H
#define FZ_MAGIC 0x31305a46u /* "FZ01" */
#define FZ_MAX_ENTRIES 16
#define FZ_NO_SIPI 0xffffffffu

#ifndef __ASSEMBLER__
#include <stdint.h>
enum fz_mode { FZ_FLAT32 = 0, FZ_PAGING32 = 1, FZ_PAE32 = 2, FZ_LONG64 = 3 };

struct fz_header {
  uint32_t magic;
  uint32_t mode;       /* enum fz_mode */
  uint32_t cpl;        /* 0 or 3 */
  uint32_t cr0, cr3, cr4, efer;
  uint32_t rflags;     /* at each entry (IF, IOPL, AC, ...) */
  uint32_t recoveries; /* exceptions/interrupts survived before the guest exits with code 0 */
  uint32_t sipi;       /* INIT-SIPI-SIPI the other CPUs at this vector first, or FZ_NO_SIPI */
  uint32_t nentries;
  uint32_t entries[FZ_MAX_ENTRIES][2]; /* linear addresses (low, high): entered in turn */
  uint32_t stack[2];   /* stack pointer at entry (CPL 3, and CPL 0 in long mode) */
  uint32_t regs[8];    /* EAX ECX EDX EBX (ESP unused) EBP ESI EDI at entry */
  uint32_t nchunks;    /* then nchunks of { dst, len, len bytes padded to 4 } */
};
#endif
#define FZ_LONG64_MODE 3

/* Selectors of the fuzz GDT (launch.S). */
#define FZ_KCODE32 0x08
#define FZ_KDATA 0x10
#define FZ_UCODE32 0x18
#define FZ_UDATA 0x20
#define FZ_KCODE64 0x28
#define FZ_UCODE64 0x30
#define FZ_TSS32 0x38
#define FZ_TSS64 0x40

/* Everything below this physical address is the harness (image, stacks, tables, module) and stays identity-mapped. */
#define FZ_HARNESS_END 0x400000u

#ifndef __ASSEMBLER__
extern uint64_t fz_gdt[];
extern uint8_t fz_idt[];
extern uint8_t fz_tss32[], fz_tss64[];
extern uint8_t fz_kstack_top[], fz_istack_top[];
extern struct fz_header *fz_hdr;
void fz_handler32(void);
void fz_handler64(void);
__attribute__((noreturn)) void fz_launch(struct fz_header *h);
#endif
#endif
