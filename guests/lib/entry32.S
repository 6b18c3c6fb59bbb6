/* Entry of 32-bit guests: loads the runtime's GDT, a stack, and calls kmain(magic, info). */
#include "multiboot-header.inc"
#include "gdt.h"

  .section .text
  .code32
  .globl _start
_start:
  cli
  cld
  mov %eax, %esi               /* multiboot magic */
  mov %ebx, %edi               /* multiboot info */
  lgdt gdt_desc
  ljmp $SEL_KCODE32, $1f
1:
  mov $SEL_KDATA, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  xor %ax, %ax
  mov %ax, %fs
  mov %ax, %gs
  mov $stack_top, %esp
  xor %ebp, %ebp
  push %edi
  push %esi
  call kmain
  push $0
  call debug_exit

  .section .data
  .balign 16
  .globl gdt
gdt:
  .quad 0                       /* 0x00 null */
  .quad 0x00CF9A000000FFFF      /* 0x08 kernel code, 32-bit, flat */
  .quad 0x00CF92000000FFFF      /* 0x10 kernel data, flat */
  .quad 0x00CFFA000000FFFF      /* 0x18 user code, 32-bit (SYSEXIT: SYSENTER_CS+16) */
  .quad 0x00CFF2000000FFFF      /* 0x20 user data (SYSEXIT: SYSENTER_CS+24) */
  .quad 0                       /* 0x28 TSS (filled at run time) */
  .quad 0x00009A000000FFFF      /* 0x30 16-bit code, base 0 */
  .quad 0x000092000000FFFF      /* 0x38 16-bit data, base 0 */
  .quad 0x00AF9A000000FFFF      /* 0x40 kernel code, 64-bit */
  .quad 0                       /* 0x48 spare */
gdt_end:
  .globl gdt_desc
gdt_desc:
  .word gdt_end - gdt - 1
  .long gdt

  .section .bss
  .balign 16
  .globl stack_bottom
stack_bottom:
  .skip 16384
  .globl stack_top
stack_top:
