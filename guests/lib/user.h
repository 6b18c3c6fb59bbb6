/* Running a function in ring 3: heavy loops live there because this host's KVM runs ring-0 code in a slow
 * software emulator while ring-3 code runs natively. User code runs with IOPL 3 so it may print.
 * This host's KVM runs ring 0 in a software emulator that cannot do IRET outside real mode (nor SYSRET), so
 * 32-bit ring 3 is entered with SYSEXIT; 64-bit with SYSEXITQ under KVM, IRETQ elsewhere (see user-64.c).
 * The user function returns into a stub doing UD2, and that #UD brings run_user back (longjmp).
 * 64-bit: SYSCALLs go to user_syscall_handler() (weak, default: returns -1) and come back with SYSRETQ (or
 *         SYSEXITQ under KVM). Ring-3 code must not do port I/O on this host's KVM (IOPL is not honoured there). */
#ifndef GUEST_USER_H
#define GUEST_USER_H
#include "rt.h"
#define USER_SYS_EXIT 0xE0Fu
/* Needs trap_init() first; installs the TSS (and the 0x80 gate or the SYSCALL MSRs) on first use. */
uintptr_t run_user(uintptr_t (*fn)(uintptr_t), uintptr_t arg);
#ifdef __x86_64__
struct syscall_regs { uint64_t rax, rdi, rsi, rdx, r10, r8, r9, rcx, r11, rsp; };
/* Return value goes to RAX. May change regs->rcx (return RIP) / regs->r11 (RFLAGS). */
uint64_t user_syscall_handler(struct syscall_regs *r);
void user_syscall_install(void); /* (re)programs EFER.SCE, STAR, LSTAR, FMASK for run_user */
extern uint8_t user_return_with_sysexit; /* 1 (set under KVM): SYSEXITQ instead of IRETQ/SYSRETQ */
#endif
#endif
