/* run_user for 32-bit guests: IRET to CPL 3 (CS 0x1b, SS 0x23) with IOPL 3 (so user code may print); under KVM
 * (CPUID signature) SYSEXIT instead (CS = SYSENTER_CS + 16, SS = + 24: the same selectors), because this host's
 * KVM emulates ring 0 in software and cannot emulate IRET outside real mode. The user function returns into a stub doing UD2; the #UD (recognised by its address in
 * trap_dispatch) longjmps back to run_user on the ring-0 stack. An exception, not INT n or SYSENTER: this host's
 * KVM turns INT 0x80 from ring 3 into #UD, and an exception is the one way back every platform shares. */
#include "user.h"
#include "trap.h"
#include "gdt.h"

#define MSR_SYSENTER_CS 0x174u

static jmp_buf user_jb;
static volatile uint32_t user_result;
static uint8_t user_stack[16384] ALIGNED(16);
static uint8_t kernel_stack[8192] ALIGNED(16);
static int user_ready;

void user_return_stub(void);
__asm__(".text\n.globl user_return_stub\nuser_return_stub:\n  ud2\n  jmp user_return_stub\n");

static void user_return(struct trap_frame *f) {
  user_result = f->eax;
  longjmp(user_jb, 1);
}

uintptr_t run_user(uintptr_t (*fn)(uintptr_t), uintptr_t arg) {
  if (!user_ready) {
    tss_init((uintptr_t)kernel_stack + sizeof kernel_stack, 0);
    trap_user_exit_ip = (uintptr_t)user_return_stub;
    trap_user_exit = user_return;
    user_ready = 1;
  }
  if (setjmp(user_jb) == 0) {
    uint32_t *sp = (uint32_t *)(user_stack + sizeof user_stack);
    *--sp = arg;
    *--sp = (uint32_t)(uintptr_t)user_return_stub;
    if (hv_is_kvm()) {
      wrmsr(MSR_SYSENTER_CS, SEL_KCODE32);
      __asm__ volatile(
          "mov %[ds], %%ds\n mov %[ds], %%es\n"
          "push $0x3002\n popfl\n"            /* IOPL 3, IF 0 */
          "sysexit"
          :
          : [ds] "r"((uint32_t)SEL_UDATA), "c"(sp), "d"(fn)
          : "memory");
    } else {
      __asm__ volatile(
          "mov %[ds], %%ds\n mov %[ds], %%es\n"
          "push %[ss]\n push %[sp]\n push $0x3002\n push %[cs]\n push %[ip]\n iret"
          :
          : [ds] "r"((uint32_t)SEL_UDATA), [ss] "i"(SEL_UDATA), [sp] "r"(sp), [cs] "i"(SEL_UCODE32), [ip] "r"(fn)
          : "memory");
    }
    __builtin_unreachable();
  }
  __asm__ volatile("mov %0, %%ds\n mov %0, %%es" ::"r"((uint32_t)SEL_KDATA));
  return user_result;
}
