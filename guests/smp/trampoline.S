/* AP start-up code. tramp_start..tramp_end is copied to TRAMP_BASE (below 1 MiB, 4 KiB aligned); the SIPI vector
 * is TRAMP_BASE >> 12, so the AP starts in real mode at CS = TRAMP_BASE >> 4, IP = 0. It loads the runtime GDT,
 * sets CR0.PE and far-jumps straight to ap_entry32 in the kernel image above 1 MiB. */
#include "gdt.h"

  .section .text
  .code16
  .globl tramp_start, tramp_end
tramp_start:
  cli
  cld
  mov %cs, %ax
  mov %ax, %ds
  lgdtl tramp_gdt_desc - tramp_start    /* 32-bit operand size: 32-bit GDT base */
  mov %cr0, %eax
  or $1, %eax                           /* CR0.PE */
  mov %eax, %cr0
  ljmpl $SEL_KCODE32, $ap_entry32       /* 32-bit offset far jump: reloads CS, now in protected mode */
  .balign 8
tramp_gdt_desc:
  .word 0x4f                            /* limit of the runtime GDT (10 entries) */
  .long gdt
tramp_end:

  .code32
ap_entry32:
  mov $SEL_KDATA, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  xor %ax, %ax
  mov %ax, %fs
  mov %ax, %gs
  mov $1, %eax
  lock xadd %eax, ap_stack_next         /* each AP takes its own stack */
  inc %eax
  shl $12, %eax
  add $ap_stacks, %eax
  mov %eax, %esp
  call ap_main
1:
  cli
  hlt
  jmp 1b

  .section .bss
  .balign 4096
  .globl ap_stacks
ap_stacks:
  .skip 4096 * 16
