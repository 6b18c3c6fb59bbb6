/* IDT, exception/interrupt stubs for all 256 vectors, TSS. Handlers get a trap_frame they may modify
 * (return address, registers); to resume elsewhere after an expected fault, longjmp out of the handler. */
#ifndef GUEST_TRAP_H
#define GUEST_TRAP_H
#include "rt.h"

#ifdef __x86_64__
struct trap_frame {
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
  uint64_t vector, error;
  uint64_t ip, cs, flags, sp, ss;
};
#else
struct trap_frame {
  uint32_t edi, esi, ebp, esp_unused, ebx, edx, ecx, eax; /* pushal order */
  uint32_t vector, error;
  uint32_t ip, cs, flags;
  uint32_t sp, ss; /* valid only when interrupted at CPL 3 */
};
#endif

typedef void (*trap_handler_t)(struct trap_frame *f);

#define IDT_INTERRUPT_GATE 0xE
#define IDT_TRAP_GATE 0xF

void trap_init(void);                                   /* all vectors -> stubs (interrupt gates, DPL 0), lidt */
void trap_load(void);                                   /* lidt of the same IDT (for APs) */
/* Handlers return with IRET(Q), except under KVM (CPUID signature), where same-privilege returns use POPF; RET
 * because this host's KVM cannot emulate IRET outside real mode. Set by trap_init; the output never differs. */
extern uint8_t trap_use_iret;
void trap_set_handler(unsigned vec, trap_handler_t h);  /* NULL restores the default (print + fail) */
void idt_set(unsigned vec, uintptr_t target, uint16_t sel, unsigned type, unsigned dpl, unsigned ist, int present);
void idt_reset_vector(unsigned vec);                    /* back to the stub, interrupt gate, DPL 0, present */
extern const uintptr_t trap_stubs[256];
/* Loads a TSS whose ring-0 stack is kstack_top (and IST1 = ist1_top in 64-bit mode, 0 for none). */
void tss_init(uintptr_t kstack_top, uintptr_t ist1_top);
const char *exception_name(unsigned vec);
/* Set by run_user: a #UD from CPL 3 at trap_user_exit_ip calls trap_user_exit (which does not return). */
extern uintptr_t trap_user_exit_ip;
extern void (*trap_user_exit)(struct trap_frame *f);
#endif
