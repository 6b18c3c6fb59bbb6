/* One stub per vector: push a zero error code where the CPU pushes none, push the vector, join the common path. */
  .altmacro
  .text
.macro STUB n
  .balign 16
stub_\n:
  .if (\n == 8) || (\n == 10) || (\n == 11) || (\n == 12) || (\n == 13) || (\n == 14) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
  .else
  push $0
  .endif
  push $\n
  jmp trap_common
.endm
.macro STUBADDR n
#ifdef __x86_64__
  .quad stub_\n
#else
  .long stub_\n
#endif
.endm

  .set i, 0
  .rept 256
  STUB %i
  .set i, i + 1
  .endr

#ifdef __x86_64__
trap_common:
  push %rax
  push %rbx
  push %rcx
  push %rdx
  push %rsi
  push %rdi
  push %rbp
  push %r8
  push %r9
  push %r10
  push %r11
  push %r12
  push %r13
  push %r14
  push %r15
  mov %rsp, %rdi
  cld
  call trap_dispatch
  cmpb $0, trap_use_iret(%rip)  /* everywhere but this host's KVM: the architectural IRETQ */
  jne 2f
  testb $3, 144(%rsp)           /* saved CS: returning to ring 3? */
  jnz 2f
  /* Same privilege: return without IRETQ (this host's KVM cannot emulate IRET outside real mode).
   * Put RFLAGS and RIP just below the interrupted RSP, switch to it, POPFQ, RET. The two slots may overlap
   * only the saved RSP/SS of this frame, which are read before they are overwritten. */
  mov 160(%rsp), %rax           /* interrupted RSP */
  sub $16, %rax
  mov 152(%rsp), %rbx           /* RFLAGS */
  mov 136(%rsp), %rcx           /* RIP */
  mov %rbx, (%rax)
  mov %rcx, 8(%rax)
  mov %rax, 120(%rsp)           /* new RSP kept in the vector slot */
  pop %r15
  pop %r14
  pop %r13
  pop %r12
  pop %r11
  pop %r10
  pop %r9
  pop %r8
  pop %rbp
  pop %rdi
  pop %rsi
  pop %rdx
  pop %rcx
  pop %rbx
  pop %rax
  mov (%rsp), %rsp
  popfq
  ret
2:
  pop %r15
  pop %r14
  pop %r13
  pop %r12
  pop %r11
  pop %r10
  pop %r9
  pop %r8
  pop %rbp
  pop %rdi
  pop %rsi
  pop %rdx
  pop %rcx
  pop %rbx
  pop %rax
  add $16, %rsp
  iretq
#else
trap_common:
  pushal
  mov %esp, %eax
  cld
  push %eax
  call trap_dispatch
  add $4, %esp
  popal
  add $8, %esp                  /* -> EIP, CS, EFLAGS [, ESP, SS] */
  cmpb $0, trap_use_iret        /* everywhere but this host's KVM: the architectural IRET */
  jne 2f
  testb $3, 4(%esp)
  jnz 2f
  /* Same privilege: return without IRET (this host's KVM cannot emulate IRET outside real mode):
   * turn [EIP][CS][EFLAGS] into [EFLAGS][EIP] and POPF; RET. */
  push %eax
  mov 4(%esp), %eax             /* EIP */
  xchg %eax, 12(%esp)           /* EFLAGS slot <- EIP; EAX = EFLAGS */
  mov %eax, 8(%esp)             /* CS slot <- EFLAGS */
  pop %eax
  add $4, %esp
  popfl
  ret
2:
  iret
#endif

  .section .rodata
  .balign 8
  .globl trap_stubs
trap_stubs:
  .set i, 0
  .rept 256
  STUBADDR %i
  .set i, i + 1
  .endr
