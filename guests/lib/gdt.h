/* Segment selectors of the runtime GDTs (entry32.S and entry64.S); usable from C and assembly. */
#ifndef GUEST_GDT_H
#define GUEST_GDT_H
#ifdef __x86_64__
/* 64-bit layout: SYSCALL CS=STAR[47:32]=0x10, SS=0x18; SYSRET (64) CS=STAR[63:48]+16=0x33, SS=+8=0x2b. */
#define SEL_KCODE32 0x08
#define SEL_KCODE64 0x10
#define SEL_KDATA 0x18
#define SEL_UCODE32 0x23
#define SEL_UDATA 0x2b
#define SEL_UCODE64 0x33
#define SEL_UDATA2 0x3b
#define SEL_TSS 0x40
#define SEL_CODE16 0x50
#define SEL_DATA16 0x58
#else
/* 32-bit layout: SYSENTER CS=0x08, SS=0x10; SYSEXIT CS=0x08+16=0x1b, SS=0x08+24=0x23. */
#define SEL_KCODE32 0x08
#define SEL_KDATA 0x10
#define SEL_UCODE32 0x1b
#define SEL_UDATA 0x23
#define SEL_TSS 0x28
#define SEL_CODE16 0x30
#define SEL_DATA16 0x38
#define SEL_KCODE64 0x40
#endif
#endif
