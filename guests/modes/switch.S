/* mode_roundtrip(): 64-bit long mode -> compatibility mode -> 32-bit protected mode (paging and EFER.LME off)
 * -> 16-bit protected mode -> real mode -> 32-bit protected mode -> long mode again, printing in each mode.
 * The 16-bit parts run from a copy of tramp_start..tramp_end at TRAMP_BASE (below 64 KiB, so that both the
 * 16-bit protected-mode segment with base 0 and real-mode CS = TRAMP_BASE >> 4 can reach it). */
#include "gdt.h"

#define TRAMP_BASE 0x7000
#define T(sym) ((sym) - tramp_start)
#define MSR_EFER 0xC0000080
#define COM1_LSR 0x3fd
#define COM1_THR 0x3f8

  .text
  .code64
  .globl mode_roundtrip
mode_roundtrip:
  push %rbx
  push %rbp
  push %r12
  push %r13
  push %r14
  push %r15
  mov %rsp, saved_rsp(%rip)
  lea compat32(%rip), %rax
  push $SEL_KCODE32
  push %rax
  lretq                                 /* to 32-bit compatibility mode (still IA-32e, LMA = 1) */

  .code32
compat32:
  mov $SEL_KDATA, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  mov $msg_compat, %esi
  call puts32
  mov %cr0, %eax
  and $0x7FFFFFFF, %eax                 /* CR0.PG = 0: leaves IA-32e mode, EFER.LMA drops to 0 */
  mov %eax, %cr0
  mov $MSR_EFER, %ecx
  rdmsr
  and $~0x100, %eax                     /* EFER.LME = 0 */
  wrmsr
  mov $msg_pm32, %esi
  call puts32
  mov $MSR_EFER, %ecx
  rdmsr
  and $0x500, %eax                      /* LME and LMA only */
  call puthex32
  mov $msg_cr0, %esi
  call puts32
  mov %cr0, %eax
  and $0x80000001, %eax                 /* PG and PE only: other CR0 bits depend on the loader */
  call puthex32
  mov $msg_crlf, %esi
  call puts32
  ljmp $SEL_CODE16, $(TRAMP_BASE + T(pm16))

pm32_back:
  mov $SEL_KDATA, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  mov saved_rsp, %esp
  mov $msg_pm32_back, %esi
  call puts32
  mov %cr4, %eax
  or $0x20, %eax                        /* CR4.PAE */
  mov %eax, %cr4
  mov $boot_pml4, %eax
  mov %eax, %cr3
  mov $MSR_EFER, %ecx
  rdmsr
  or $0x100, %eax                       /* EFER.LME */
  wrmsr
  mov %cr0, %eax
  or $0x80000000, %eax                  /* CR0.PG: IA-32e mode active again */
  mov %eax, %cr0
  ljmp $SEL_KCODE64, $back64

/* puts32: ESI = NUL-terminated string */
puts32:
  push %eax
  push %edx
1:
  mov (%esi), %al
  test %al, %al
  jz 3f
  mov %al, %ah
  mov $COM1_LSR, %dx
2:
  in %dx, %al
  test $0x20, %al
  jz 2b
  mov %ah, %al
  mov $COM1_THR, %dx
  out %al, %dx
  inc %esi
  jmp 1b
3:
  pop %edx
  pop %eax
  ret

/* puthex32: prints EAX as 0x + 8 hex digits */
puthex32:
  push %ebx
  push %ecx
  push %esi
  mov %eax, %ebx
  mov $hexbuf + 2, %esi
  mov $8, %ecx
4:
  rol $4, %ebx
  mov %ebx, %eax
  and $0xF, %eax
  mov hexdigits(%eax), %al
  mov %al, (%esi)
  inc %esi
  loop 4b
  mov $hexbuf, %esi
  call puts32
  pop %esi
  pop %ecx
  pop %ebx
  ret

  .code64
back64:
  mov $SEL_KDATA, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  mov saved_rsp(%rip), %rsp
  pop %r15
  pop %r14
  pop %r13
  pop %r12
  pop %rbp
  pop %rbx
  ret

/* ---- copied to TRAMP_BASE ---- */
  .code16
  .globl tramp_start, tramp_end
tramp_start:
pm16:                                   /* 16-bit protected mode, CS base 0 */
  mov $SEL_DATA16, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss                          /* 64 KiB limits before real mode */
  mov $0x6FF0, %sp
  mov $(TRAMP_BASE + T(msg_pm16)), %si
  call puts16
  mov %cr0, %eax
  and $0xFFFFFFFE, %eax                 /* CR0.PE = 0 */
  mov %eax, %cr0
  ljmp $(TRAMP_BASE >> 4), $T(real)
real:
  mov %cs, %ax
  mov %ax, %ds
  xor %ax, %ax
  mov %ax, %ss
  mov $0x6FF0, %sp
  lidt T(ivt_desc)                      /* real-mode IVT at 0 (no interrupts are taken) */
  mov $T(msg_real), %si
  call puts16
  /* segment:offset arithmetic: write through 0x0810:0x0004, read back through 0x0000:0x8104 */
  mov $0x0810, %ax
  mov %ax, %es
  movw $0x1234, %es:0x0004
  xor %ax, %ax
  mov %ax, %es
  mov %es:0x8104, %bx
  mov $T(msg_seg_ok), %si
  cmp $0x1234, %bx
  je 5f
  mov $T(msg_seg_bad), %si
5:
  call puts16
  /* real-mode software interrupt through the IVT: vector 0x40 -> rm_int40 (CS = TRAMP_BASE >> 4), IRET back */
  xor %ax, %ax
  mov %ax, %es
  movw $T(rm_int40), %es:(0x40 * 4)
  movw $(TRAMP_BASE >> 4), %es:(0x40 * 4 + 2)
  mov $0x1234, %bx
  int $0x40
  mov $T(msg_int_ok), %si
  cmp $0x4321, %bx
  je 9f
  mov $T(msg_int_bad), %si
9:
  call puts16
  lgdtl T(gdt_desc32)
  mov %cr0, %eax
  or $1, %eax                           /* CR0.PE = 1 */
  mov %eax, %cr0
  ljmpl $SEL_KCODE32, $pm32_back

rm_int40:
  push %si
  mov $T(msg_int40), %si
  call puts16
  pop %si
  mov $0x4321, %bx
  iret

/* puts16: DS:SI = string */
puts16:
  push %ax
  push %dx
6:
  mov (%si), %al
  test %al, %al
  jz 8f
  mov %al, %ah
  mov $COM1_LSR, %dx
7:
  in %dx, %al
  test $0x20, %al
  jz 7b
  mov %ah, %al
  mov $COM1_THR, %dx
  out %al, %dx
  inc %si
  jmp 6b
8:
  pop %dx
  pop %ax
  ret

  .balign 4
ivt_desc:
  .word 0x3FF
  .long 0
gdt_desc32:
  .word 0x5F                            /* runtime GDT of entry64.S: 12 descriptors */
  .long gdt
msg_pm16: .asciz "modes: [16-bit] protected mode, 16-bit code segment\r\n"
msg_real: .asciz "modes: [real] real mode, CS=0x0700\r\n"
msg_seg_ok: .asciz "modes: [real] segment arithmetic 0x0810:0x0004 == 0x0000:0x8104: ok\r\n"
msg_seg_bad: .asciz "modes: [real] segment arithmetic 0x0810:0x0004 == 0x0000:0x8104: FAIL\r\n"
msg_int40: .asciz "modes: [real] INT 0x40 handler\r\n"
msg_int_ok: .asciz "modes: [real] back from INT 0x40 through IRET: ok\r\n"
msg_int_bad: .asciz "modes: [real] back from INT 0x40 through IRET: FAIL\r\n"
tramp_end:

  .section .rodata
msg_compat: .asciz "modes: [compat] 32-bit code in IA-32e compatibility mode\r\n"
msg_pm32: .asciz "modes: [32-bit] protected mode, paging off, EFER.LMA|LME="
msg_cr0: .asciz " CR0.PG|PE="
msg_crlf: .asciz "\r\n"
msg_pm32_back: .asciz "modes: [32-bit] back in protected mode from real mode\r\n"
hexdigits: .ascii "0123456789abcdef"

  .data
hexbuf: .asciz "0x00000000"
  .balign 8
saved_rsp: .quad 0
