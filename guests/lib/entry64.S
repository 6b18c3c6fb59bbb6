/* Entry of 64-bit guests: starts in 32-bit protected mode (multiboot), builds identity page tables for the
 * first 4 GiB with 2 MiB pages, enables PAE + EFER.LME + paging, far-jumps to 64-bit code, calls kmain(magic, info). */
#include "multiboot-header.inc"
#include "gdt.h"

#define CR0_PE (1 << 0)
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define MSR_EFER 0xC0000080
#define EFER_LME (1 << 8)
#define PTE_P 0x1
#define PTE_W 0x2
#define PTE_U 0x4 /* user-accessible: run_user's ring-3 code runs on these identity mappings */
#define PTE_PS 0x80

  .section .text
  .code32
  .globl _start
_start:
  cli
  cld
  mov %eax, %esi
  mov %ebx, %edi
  lgdt gdt_desc32
  ljmp $SEL_KCODE32, $1f
1:
  mov $SEL_KDATA, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  mov $stack_top, %esp

  /* PML4[0] -> PDPT; PDPT[0..3] -> PD0..PD3; each PD maps 1 GiB with 2 MiB pages. */
  mov $boot_pml4, %ebx
  mov $boot_pdpt, %eax
  or $(PTE_P | PTE_W | PTE_U), %eax
  mov %eax, (%ebx)
  mov $boot_pdpt, %ebx
  mov $boot_pd, %eax
  or $(PTE_P | PTE_W | PTE_U), %eax
  xor %ecx, %ecx
2:
  mov %eax, (%ebx,%ecx,8)
  add $0x1000, %eax
  inc %ecx
  cmp $4, %ecx
  jne 2b
  mov $boot_pd, %ebx
  xor %ecx, %ecx
3:
  mov %ecx, %eax
  shl $21, %eax
  or $(PTE_P | PTE_W | PTE_U | PTE_PS), %eax
  mov %eax, (%ebx,%ecx,8)
  /* high half of the entry: bits 32+ of (ecx << 21) are 0 below 4 GiB */
  inc %ecx
  cmp $2048, %ecx
  jne 3b

  mov %cr4, %eax
  or $CR4_PAE, %eax
  mov %eax, %cr4
  mov $boot_pml4, %eax
  mov %eax, %cr3
  mov $MSR_EFER, %ecx
  rdmsr
  or $EFER_LME, %eax
  wrmsr
  mov %cr0, %eax
  or $(CR0_PG | CR0_PE), %eax
  mov %eax, %cr0
  ljmp $SEL_KCODE64, $long_entry

  .code64
long_entry:
  mov $SEL_KDATA, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  xor %eax, %eax
  mov %ax, %fs
  mov %ax, %gs
  lgdt gdt_desc64
  mov $stack_top, %rsp
  xor %ebp, %ebp
  mov %esi, %esi                /* zero-extend */
  mov %edi, %edi
  mov %rdi, %rax
  mov %rsi, %rdi                /* arg0: magic */
  mov %rax, %rsi                /* arg1: info */
  call kmain
  xor %edi, %edi
  call debug_exit

  .section .data
  .balign 16
  .globl gdt
gdt:
  .quad 0                       /* 0x00 null */
  .quad 0x00CF9A000000FFFF      /* 0x08 kernel code, 32-bit */
  .quad 0x00AF9A000000FFFF      /* 0x10 kernel code, 64-bit (SYSCALL CS) */
  .quad 0x00CF92000000FFFF      /* 0x18 kernel data (SYSCALL SS) */
  .quad 0x00CFFA000000FFFF      /* 0x20 user code, 32-bit (SYSRET compat CS) */
  .quad 0x00CFF2000000FFFF      /* 0x28 user data (SYSRET SS) */
  .quad 0x00AFFA000000FFFF      /* 0x30 user code, 64-bit (SYSRET 64 CS) */
  .quad 0x00CFF2000000FFFF      /* 0x38 user data again (SYSEXIT64 SS = SYSENTER_CS+40) */
  .quad 0, 0                    /* 0x40 TSS, 16 bytes (filled at run time) */
  .quad 0x00009A000000FFFF      /* 0x50 16-bit code, base 0 */
  .quad 0x000092000000FFFF      /* 0x58 16-bit data, base 0 */
gdt_end:
gdt_desc32:
  .word gdt_end - gdt - 1
  .long gdt
  .balign 8
  .globl gdt_desc
gdt_desc:
gdt_desc64:
  .word gdt_end - gdt - 1
  .quad gdt

  .section .bss
  .balign 4096
  .globl boot_pml4, boot_pdpt, boot_pd
boot_pml4: .skip 4096
boot_pdpt: .skip 4096
boot_pd: .skip 4096 * 4
  .balign 16
  .globl stack_bottom
stack_bottom:
  .skip 16384
  .globl stack_top
stack_top:
