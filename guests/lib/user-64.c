/* run_user for 64-bit guests: enters CPL 3 (CS 0x33, SS 0x3b, IOPL 3); the user function returns into a stub
 * doing UD2, whose #UD brings run_user back (longjmp). SYSCALLs from user code go to the LSTAR entry, which
 * switches to a ring-0 stack, calls user_syscall_handler and returns with SYSRETQ (RAX = USER_SYS_EXIT longjmps
 * back to run_user as well). Note: on this host's KVM the code after SYSCALL runs natively at hardware CPL 3
 * (privileged instructions and port I/O raise #GP), so SYSCALL round trips are not usable there. Under KVM (CPUID signature) both the entry and the returns use
 * SYSEXITQ instead: this host's KVM emulates ring 0 in software and can emulate neither IRETQ nor SYSRETQ, while
 * SYSEXITQ is #UD on AMD CPUs and QEMU's default CPU, so elsewhere IRETQ/SYSRETQ are used. The user code sees the
 * same state either way (SS 0x3b is the same descriptor as 0x2b). */
#include "user.h"
#include "trap.h"
#include "gdt.h"

#define MSR_EFER 0xC0000080u
#define MSR_STAR 0xC0000081u
#define MSR_LSTAR 0xC0000082u
#define MSR_FMASK 0xC0000084u
#define EFER_SCE 1u
#define MSR_SYSENTER_CS 0x174u

static jmp_buf user_jb;
static volatile uint64_t user_result;
static uint8_t user_stack[16384] ALIGNED(16);
uint8_t user_kernel_stack[16384] ALIGNED(16);
static int user_ready;

void user_return_stub(void);
void user_syscall_entry(void);
void user_syscall_exit(uint64_t v);
__asm__(".text\n"
        ".globl user_return_stub\n"
        "user_return_stub:\n"
        "  ud2\n"
        "  jmp user_return_stub\n"
        /* SYSCALL: RCX = user RIP, R11 = user RFLAGS, RSP still the user's. */
        ".globl user_syscall_entry\n"
        "user_syscall_entry:\n"
        "  mov %rsp, user_saved_rsp(%rip)\n"
        "  lea user_kernel_stack+16384(%rip), %rsp\n"
        "  push user_saved_rsp(%rip)\n"
        "  push %r11\n"
        "  push %rcx\n"
        "  push %r9\n"
        "  push %r8\n"
        "  push %r10\n"
        "  push %rdx\n"
        "  push %rsi\n"
        "  push %rdi\n"
        "  push %rax\n"
        "  cmp $0xE0F, %eax\n"
        "  jne 1f\n"
        "  call user_syscall_exit\n"
        "1:\n"
        "  mov %rsp, %rdi\n"
        "  call user_syscall_handler\n"
        "  add $8, %rsp\n"
        "  pop %rdi\n"
        "  pop %rsi\n"
        "  pop %rdx\n"
        "  pop %r10\n"
        "  pop %r8\n"
        "  pop %r9\n"
        "  pop %rcx\n"
        "  pop %r11\n"
        "  pop %rsp\n"
        "  cmpb $0, user_return_with_sysexit(%rip)\n"
        "  jne 2f\n"
        "  sysretq\n"
        "2:\n"                                 /* SYSEXITQ: RIP = RDX, RSP = RCX; RFLAGS are not changed by it */
        "  mov %rcx, %rdx\n"
        "  mov %rsp, %rcx\n"
        "  push %r11\n"
        "  popfq\n"
        "  sysexitq\n"
        ".data\n"
        "user_saved_rsp: .quad 0\n"
        ".globl user_return_with_sysexit\n"
        "user_return_with_sysexit: .byte 0\n"
        ".text\n");

void user_syscall_exit(uint64_t v) {
  user_result = v;
  longjmp(user_jb, 1);
}

static void user_exit_trap(struct trap_frame *f) { user_syscall_exit(f->rax); }

__attribute__((weak)) uint64_t user_syscall_handler(struct syscall_regs *r) {
  (void)r;
  return (uint64_t)-1;
}

void user_syscall_install(void) {
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
  /* SYSCALL: CS = 0x10, SS = 0x18. SYSRETQ: CS = 0x20 + 16 = 0x30 | 3, SS = 0x20 + 8 = 0x28 | 3. */
  wrmsr(MSR_STAR, ((uint64_t)(SEL_UCODE32 & ~3u) << 48) | ((uint64_t)SEL_KCODE64 << 32));
  wrmsr(MSR_LSTAR, (uint64_t)(uintptr_t)user_syscall_entry);
  wrmsr(MSR_FMASK, 0x200 | 0x100 | 0x400); /* clear IF, TF, DF on entry */
}

uintptr_t run_user(uintptr_t (*fn)(uintptr_t), uintptr_t arg) {
  if (!user_ready) {
    tss_init((uintptr_t)user_kernel_stack + sizeof user_kernel_stack, 0);
    user_return_with_sysexit = (uint8_t)hv_is_kvm();
    trap_user_exit_ip = (uintptr_t)user_return_stub;
    trap_user_exit = user_exit_trap;
    user_ready = 1;
  }
  user_syscall_install();
  if (setjmp(user_jb) == 0) {
    uint64_t *sp = (uint64_t *)(user_stack + sizeof user_stack);
    *--sp = 0;
    *--sp = (uint64_t)(uintptr_t)user_return_stub;
    if (user_return_with_sysexit) {
      /* KVM here: SYSEXITQ (CS = SYSENTER_CS + 32 = 0x33, SS = + 40 = 0x3b) is what its ring-0 emulator can do */
      wrmsr(MSR_SYSENTER_CS, SEL_KCODE64);
      __asm__ volatile("push $0x3002\n popfq\n sysexitq" : : "c"(sp), "d"(fn), "D"(arg) : "memory");
    } else {
      /* IRETQ: valid on every vendor (SYSEXIT is #UD in 64-bit mode on AMD, which QEMU's default CPU imitates) */
      __asm__ volatile("push %[ss]\n push %[sp]\n push $0x3002\n push %[cs]\n push %[ip]\n iretq"
                       : : [ss] "i"(SEL_UDATA2), [sp] "r"(sp), [cs] "i"(SEL_UCODE64), [ip] "r"(fn), "D"(arg) : "memory");
    }
    __builtin_unreachable();
  }
  return (uintptr_t)user_result;
}
