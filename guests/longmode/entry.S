/* longmode: its own multiboot entry. Prints from 32-bit protected mode, builds 4-level page tables (identity map
 * of the first 1 GiB with 2 MiB pages), enables CR4.PAE, EFER.LME and CR0.PG, far-jumps into a 64-bit code
 * segment and continues in C (longmode.c). */
#include "multiboot-header.inc"
#include "gdt.h"

  .section .text
  .code32
  .globl _start
_start:
  cli
  cld
  mov %eax, %esi
  mov %ebx, saved_info
  lgdt gdt_desc32
  ljmp $SEL_KCODE32, $1f
1:
  mov $SEL_KDATA, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  mov $stack_top, %esp

  mov $msg32, %ebx
  call puts32

  /* PML4[0] -> PDPT, PDPT[0] -> PD, PD[i] = i * 2 MiB | P | W | PS */
  movl $(lm_pdpt + 3), lm_pml4
  movl $(lm_pd + 3), lm_pdpt
  xor %ecx, %ecx
2:
  mov %ecx, %eax
  shl $21, %eax
  or $0x83, %eax
  mov %eax, lm_pd(,%ecx,8)
  movl $0, lm_pd+4(,%ecx,8)
  inc %ecx
  cmp $512, %ecx
  jne 2b

  mov %cr4, %eax
  or $(1 << 5), %eax            /* CR4.PAE */
  mov %eax, %cr4
  mov $lm_pml4, %eax
  mov %eax, %cr3
  mov $0xC0000080, %ecx         /* IA32_EFER */
  rdmsr
  or $(1 << 8), %eax            /* LME */
  wrmsr
  mov %cr0, %eax
  or $0x80000001, %eax          /* PG | PE: activates IA-32e mode (EFER.LMA = 1) */
  mov %eax, %cr0

  mov $msg_paging, %ebx         /* still 32-bit code: compatibility mode until the far jump */
  call puts32
  ljmp $SEL_KCODE64, $long64

/* puts32: EBX = NUL-terminated string; polls LSR.THRE before each byte. */
puts32:
  mov $0x3fd, %dx
3:
  in %dx, %al
  test $0x20, %al
  jz 3b
  mov (%ebx), %al
  test %al, %al
  jz 4f
  mov $0x3f8, %dx
  out %al, %dx
  inc %ebx
  jmp puts32
4:
  ret

  .code64
long64:
  mov $SEL_KDATA, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  lgdt gdt_desc64
  mov $stack_top, %rsp
  mov %esi, %edi                /* magic (zero-extended) */
  mov saved_info, %esi          /* multiboot info */
  call long_main
  xor %edi, %edi
  call debug_exit

  .section .rodata
msg32: .asciz "longmode: hello from 32-bit protected mode\r\n"
msg_paging: .asciz "longmode: paging on, EFER.LMA set, still 32-bit code (compatibility mode)\r\n"

  .section .data
  .balign 16
  .globl gdt
gdt:
  .quad 0
  .quad 0x00CF9A000000FFFF      /* 0x08 code 32 */
  .quad 0x00AF9A000000FFFF      /* 0x10 code 64 (L=1, D=0) */
  .quad 0x00CF92000000FFFF      /* 0x18 data */
gdt_end:
gdt_desc32:
  .word gdt_end - gdt - 1
  .long gdt
  .balign 8
gdt_desc64:
  .word gdt_end - gdt - 1
  .quad gdt
  .globl saved_info
saved_info: .quad 0

  .section .bss
  .balign 4096
lm_pml4: .skip 4096
lm_pdpt: .skip 4096
lm_pd: .skip 4096
  .balign 16
  .skip 16384
stack_top:
