/* la57_enter(pml5): from 64-bit mode with 4-level paging to 5-level paging. CR4.LA57 may change only while
 * long mode is inactive, so: far return to compatibility mode, clear CR0.PG (EFER.LMA drops), set CR4.LA57 and
 * CR3 = pml5 (below 4 GiB), set CR0.PG again (EFER.LMA is back) and far-jump into 64-bit code. Runs on the
 * identity mapping, which both page-table trees share; interrupts must be off. */
#include "gdt.h"

  .text
  .code64
  .globl la57_enter
la57_enter:
  push %rbx
  mov %edi, %ebx
  pushq $SEL_KCODE32
  lea 1f(%rip), %rax
  push %rax
  lretq
  .code32
1:
  mov %cr0, %eax
  and $0x7fffffff, %eax
  mov %eax, %cr0
  mov %cr4, %eax
  or $(1 << 12), %eax
  mov %eax, %cr4
  mov %ebx, %cr3
  mov %cr0, %eax
  or $0x80000000, %eax
  mov %eax, %cr0
  ljmp $SEL_KCODE64, $2f
  .code64
2:
  pop %rbx
  ret

/* high_code_probe: returns its own RIP, to show where it ran (called through an alias of its page). */
  .globl high_code_probe
high_code_probe:
  lea high_code_probe(%rip), %rax
  ret

/* jmp_to(target): an indirect jump; the #GP of a non-canonical target names the JMP (jmp_to_insn). */
  .globl jmp_to, jmp_to_insn
jmp_to:
jmp_to_insn:
  jmp *%rdi

/* on_stack(rsp, fn): runs fn with RSP = rsp (the old RSP pushed there first, so a first push 4 bytes above a page
 * boundary crosses it), then returns fn's RAX with the old RSP back. CALL and RET go through the new stack. */
  .globl on_stack
on_stack:
  mov %rsp, %rax
  mov %rdi, %rsp
  push %rax
  call *%rsi
  pop %rsp
  ret

/* stack_probe: returns RSP + the qword PUSHed and POPped back through it, and pushes and pops a pattern. */
  .globl stack_probe
stack_probe:
  movabs $0x0102030405060708, %rax
  push %rax
  pop %rdx
  cmp %rax, %rdx
  jne 1f
  lea 8(%rsp), %rax
  ret
1:
  xor %eax, %eax
  ret

/* Run through aliases beyond +-2^53 (la57.c): each returns something only the exact RIP it ran at gives. */

/* hot_sum(n): n times RAX += hot_word, a RIP-relative operand (a hot loop: compiled, where code may be). */
  .globl hot_sum
hot_sum:
  xor %eax, %eax
1:
  add hot_word(%rip), %rax
  dec %rdi
  jnz 1b
  ret

/* call_probe: the address CALL pushed, where the POP is. */
  .globl call_probe, call_probe_ret
call_probe:
  call call_probe_ret
call_probe_ret:
  pop %rax
  ret

/* do_syscall: SYSCALL; the entry (syscall_entry, at LSTAR) returns RCX, the RIP after it. */
  .globl do_syscall, syscall_entry
do_syscall:
  syscall
  ret
syscall_entry:
  lea syscall_entry(%rip), %rdx
  mov %rdx, entry_rip(%rip)
  mov %rcx, %rax
  push %r11
  popfq
  jmp *%rcx

/* do_int: INT 0x41, whose gate points at int_entry (through an alias); returns the RIP the gate's frame holds. */
  .globl do_int, int_entry, entry_rip
do_int:
  int $0x41
  ret
int_entry:
  lea int_entry(%rip), %rdx
  mov %rdx, entry_rip(%rip)
  mov (%rsp), %rax
  iretq

/* do_sysenter: SYSENTER; the entry (sysenter_entry, at SYSENTER_EIP) returns the RSP it loaded, then the stack and
 * RFLAGS of before (SYSENTER clears IF). */
  .globl do_sysenter, sysenter_entry
do_sysenter:
  pushfq
  mov %rsp, sysenter_rsp(%rip)
  sysenter
sysenter_entry:
  lea sysenter_entry(%rip), %rdx
  mov %rdx, entry_rip(%rip)
  mov %rsp, %rax
  mov sysenter_rsp(%rip), %rsp
  popfq
  ret

  .data
  .balign 8
sysenter_rsp:
  .quad 0
hot_word:
  .quad 3
entry_rip:
  .quad 0
