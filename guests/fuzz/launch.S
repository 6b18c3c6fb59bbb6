/* fuzz: mode switch into the scenario, and the recovery handlers every exception and interrupt lands in. */
#include "fuzz.h"

#define EFER_MSR 0xC0000080

  .section .text
  .code32
/* fz_launch(struct fz_header *h): loads the fuzz GDT/IDT/TR and the scenario's CR4/CR3/EFER/CR0, then enters. */
  .globl fz_launch
fz_launch:
  cli
  mov 4(%esp), %esi
  mov %esi, fz_hdr
  lgdt fz_gdt_desc
  ljmp $FZ_KCODE32, $1f
1:
  mov $FZ_KDATA, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  mov %ax, %fs
  mov %ax, %gs
  mov $fz_kstack_top, %esp
  lidt fz_idt_desc
  mov $FZ_TSS32, %ax
  cmpl $FZ_LONG64_MODE, 4(%esi)
  jne 2f
  mov $FZ_TSS64, %ax
2:
  ltr %ax
  mov 20(%esi), %eax           /* CR4 */
  mov %eax, %cr4
  mov 16(%esi), %eax           /* CR3 */
  mov %eax, %cr3
  mov 24(%esi), %eax           /* EFER */
  test %eax, %eax
  jz 3f
  mov $EFER_MSR, %ecx
  xor %edx, %edx
  wrmsr
3:
  mov fz_hdr, %esi
  mov 12(%esi), %eax           /* CR0: paging on from here (identity-mapped harness) */
  mov %eax, %cr0
  cmpl $FZ_LONG64_MODE, 4(%esi)
  jne fz_enter32
  ljmp $FZ_KCODE64, $fz_enter64

/* Enters entry number (fz_count mod nentries) at the scenario's CPL with its registers. */
fz_enter32:
  mov $fz_kstack_top, %esp
  mov fz_hdr, %esi
  mov fz_count, %eax
  xor %edx, %edx
  divl 40(%esi)                /* nentries: EDX = index */
  mov 44(%esi,%edx,8), %ebx    /* entry, low half */
  cmpl $3, 8(%esi)
  jne 4f
  mov $(FZ_UDATA | 3), %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %fs
  mov %ax, %gs
  pushl $(FZ_UDATA | 3)
  pushl 172(%esi)              /* stack, low half */
  pushl 28(%esi)               /* rflags */
  pushl $(FZ_UCODE32 | 3)
  push %ebx
  jmp 5f
4:
  pushl 28(%esi)
  pushl $FZ_KCODE32
  push %ebx
5:
  mov 180(%esi), %eax
  mov 184(%esi), %ecx
  mov 188(%esi), %edx
  mov 192(%esi), %ebx
  mov 200(%esi), %ebp
  mov 208(%esi), %edi
  mov 204(%esi), %esi
  iret

/* Every vector of a 32-bit scenario: reset the harness state and enter the next entry, or exit when the budget is spent. */
  .globl fz_handler32
fz_handler32:
  mov $FZ_KDATA, %ax
  mov %ax, %ds
  mov %ax, %ss
  mov $fz_kstack_top, %esp
  mov %ax, %es
  lgdt fz_gdt_desc
  lidt fz_idt_desc
  mov fz_hdr, %esi
  mov 16(%esi), %eax
  mov %eax, %cr3
  incl fz_count
  mov fz_count, %eax
  cmp 32(%esi), %eax           /* recoveries */
  jae fz_done32
  jmp fz_enter32
fz_done32:
  mov $0xf4, %dx
  xor %eax, %eax
  out %al, %dx
  cli
6: hlt
  jmp 6b

  .code64
fz_enter64:
  mov $FZ_KDATA, %eax
  mov %eax, %ds
  mov %eax, %es
  mov %eax, %ss
  mov $fz_kstack_top, %esp
  mov fz_hdr(%rip), %esi
  mov fz_count(%rip), %eax
  xor %edx, %edx
  divl 40(%rsi)
  mov 44(%rsi,%rdx,8), %rbx    /* entry, 64 bits */
  mov 172(%rsi), %rcx          /* stack, 64 bits */
  cmpl $3, 8(%rsi)
  jne 7f
  pushq $(FZ_UDATA | 3)
  push %rcx
  mov 28(%rsi), %eax
  push %rax
  pushq $(FZ_UCODE64 | 3)
  push %rbx
  jmp 8f
7:
  pushq $FZ_KDATA
  push %rcx
  mov 28(%rsi), %eax
  push %rax
  pushq $FZ_KCODE64
  push %rbx
8:
  mov 180(%rsi), %eax
  mov 184(%rsi), %ecx
  mov 188(%rsi), %edx
  mov 192(%rsi), %ebx
  mov 200(%rsi), %ebp
  mov 208(%rsi), %edi
  mov %rax, %r8
  mov %rcx, %r9
  mov %rdx, %r10
  mov %rbx, %r11
  mov %rbp, %r12
  mov %rdi, %r13
  mov %rax, %r14
  mov %rcx, %r15
  mov 204(%rsi), %esi
  iretq

/* Every vector of a long-mode scenario (IST1: a known stack whatever RSP the scenario left). */
  .globl fz_handler64
fz_handler64:
  mov $FZ_KDATA, %eax
  mov %eax, %ds
  mov %eax, %ss
  mov $fz_kstack_top, %esp
  lgdt fz_gdt_desc64(%rip)
  lidt fz_idt_desc64(%rip)
  mov fz_hdr(%rip), %esi
  mov 16(%rsi), %eax
  mov %rax, %cr3
  incl fz_count(%rip)
  mov fz_count(%rip), %eax
  cmp 32(%rsi), %eax
  jae 9f
  jmp fz_enter64
9:
  mov $0xf4, %dx
  xor %eax, %eax
  out %al, %dx
  cli
10: hlt
  jmp 10b

  .section .data
  .balign 16
  .globl fz_gdt
fz_gdt:
  .quad 0
  .quad 0x00CF9A000000FFFF      /* 0x08 kernel code 32 */
  .quad 0x00CF92000000FFFF      /* 0x10 kernel data */
  .quad 0x00CFFA000000FFFF      /* 0x18 user code 32 */
  .quad 0x00CFF2000000FFFF      /* 0x20 user data */
  .quad 0x00AF9A000000FFFF      /* 0x28 kernel code 64 */
  .quad 0x00AFFA000000FFFF      /* 0x30 user code 64 */
  .quad 0                       /* 0x38 TSS32 (filled by fuzz.c) */
  .quad 0, 0                    /* 0x40 TSS64 (16 bytes, filled by fuzz.c) */
fz_gdt_end:
fz_gdt_desc:
  .word fz_gdt_end - fz_gdt - 1
  .long fz_gdt
fz_gdt_desc64:
  .word fz_gdt_end - fz_gdt - 1
  .long fz_gdt, 0
fz_idt_desc:
  .word 256 * 8 - 1
  .long fz_idt
fz_idt_desc64:
  .word 256 * 16 - 1
  .long fz_idt, 0
  .globl fz_hdr
fz_hdr:
  .long 0
fz_count:
  .long 0

  .section .bss
  .balign 4096
  .globl fz_idt
fz_idt:
  .skip 4096
  .globl fz_tss32
fz_tss32:
  .skip 128
  .globl fz_tss64
fz_tss64:
  .skip 128
  .balign 16
  .skip 16384
  .globl fz_kstack_top
fz_kstack_top:
  .skip 8192
  .globl fz_istack_top
fz_istack_top:
