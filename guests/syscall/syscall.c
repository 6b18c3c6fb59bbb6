/* syscall (64-bit guest): SYSCALL/SYSRETQ between ring 3 and ring 0, and SWAPGS.
 * The kernel side checks what SYSCALL delivers (RCX = user RIP, R11 = user RFLAGS, RFLAGS masked by FMASK,
 * CS/SS from STAR); the user side checks what SYSRETQ restores (CS 0x33, SS 0x2b, CPL 3, RFLAGS from R11).
 * Under KVM (CPUID signature) the kernel returns with SYSEXITQ instead (SS 0x3b), because this host's KVM
 * cannot emulate SYSRET in its software ring 0; the printed output is the same.
 * Each result is printed; mismatches print FAIL and exit with code 1. */
#include "rt.h"
#include "trap.h"
#include "user.h"
#include "gdt.h"

#define MSR_FS_BASE 0xC0000100u
#define MSR_GS_BASE 0xC0000101u
#define MSR_KERNEL_GS_BASE 0xC0000102u
#define RFLAGS_CF 0x001u
#define RFLAGS_DF 0x400u
#define SYS_ADD 1
#define SYS_INFO 2
#define SYS_COUNT 3
#define LOOP 1000

static int failures;
static void check(const char *what, int ok) {
  kprintf("syscall: %-52s %s\n", what, ok ? "ok" : "FAIL");
  failures += !ok;
}

/* kernel-side observations */
static volatile uint64_t k_cs, k_ss, k_rflags, k_r11, k_rcx, k_count;

uint64_t user_syscall_handler(struct syscall_regs *r) {
  switch (r->rax) {
  case SYS_ADD: return r->rdi + r->rsi;
  case SYS_INFO: {
    uint16_t cs, ss;
    uint64_t fl;
    __asm__ volatile("mov %%cs, %0\n mov %%ss, %1\n pushf\n pop %2" : "=r"(cs), "=r"(ss), "=r"(fl));
    k_cs = cs; k_ss = ss; k_rflags = fl; k_r11 = r->r11; k_rcx = r->rcx;
    return 0;
  }
  case SYS_COUNT: return ++k_count;
  default: return (uint64_t)-38;
  }
}

static inline uint64_t sys2(uint64_t nr, uint64_t a, uint64_t b) {
  uint64_t ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b) : "rcx", "rdx", "r11", "memory", "cc");
  return ret;
}

extern char user_after_info[];
static uintptr_t user_main(uintptr_t arg) {
  (void)arg;
  uint16_t cs, ss;
  __asm__ volatile("mov %%cs, %0\n mov %%ss, %1" : "=r"(cs), "=r"(ss));
  check("user mode before SYSCALL: CS=0x33 SS=0x3b", cs == SEL_UCODE64 && ss == SEL_UDATA2);
  uint64_t sum = sys2(SYS_ADD, 0x1111111122222222ull, 0x3333333344444444ull);
  check("SYS_ADD 64-bit args and result", sum == 0x4444444466666666ull);

  /* CF and DF set in user mode: R11 carries them to the kernel, FMASK clears DF there, SYSRET restores both. */
  uint64_t fl_after;
  __asm__ volatile("stc\n std\n syscall\n"
                   ".globl user_after_info\n user_after_info:\n"
                   "pushf\n pop %0\n cld"
                   : "=r"(fl_after) : "a"((uint64_t)SYS_INFO) : "rcx", "rdx", "r11", "memory", "cc");
  kprintf("syscall: kernel saw CS=0x%llx SS=0x%llx, RCX=user_after_info%+lld, R11 CF=%llu DF=%llu, RFLAGS DF=%llu\n",
          (unsigned long long)k_cs, (unsigned long long)k_ss, (long long)(k_rcx - (uintptr_t)user_after_info),
          (unsigned long long)(k_r11 & RFLAGS_CF), (unsigned long long)((k_r11 & RFLAGS_DF) != 0),
          (unsigned long long)((k_rflags & RFLAGS_DF) != 0));
  check("SYSCALL: CS/SS from STAR[47:32], RCX and R11 saved",
        k_cs == SEL_KCODE64 && k_ss == SEL_KDATA && k_rcx == (uintptr_t)user_after_info && (k_r11 & RFLAGS_CF) && (k_r11 & RFLAGS_DF));
  check("SYSCALL: FMASK cleared DF in the kernel", !(k_rflags & RFLAGS_DF));
  check("return: RFLAGS restored from R11 (CF=1, DF=1)", (fl_after & RFLAGS_CF) && (fl_after & RFLAGS_DF));
  __asm__ volatile("mov %%cs, %0\n mov %%ss, %1" : "=r"(cs), "=r"(ss));
  check("return: back in ring 3 with CS=0x33, SS=0x2b or 0x3b", cs == SEL_UCODE64 && (ss == SEL_UDATA || ss == SEL_UDATA2));

  uint64_t last = 0;
  for (int i = 0; i < LOOP; i++) last = sys2(SYS_COUNT, 0, 0);
  kprintf("syscall: %d round trips, kernel counted %llu\n", LOOP, (unsigned long long)last);
  check("round trips counted", last == LOOP);
  return 0x600D;
}

void kmain(uint32_t magic, uint32_t info) {
  (void)magic; (void)info;
  serial_init();
  trap_init();
  kprintf("syscall: 64-bit guest, SYSCALL/SYSRETQ and SWAPGS\n");

  /* SWAPGS exchanges GS.base with IA32_KERNEL_GS_BASE */
  static uint64_t user_area = 0x1111, kernel_area = 0x2222;
  wrmsr(MSR_GS_BASE, (uintptr_t)&user_area);
  wrmsr(MSR_KERNEL_GS_BASE, (uintptr_t)&kernel_area);
  uint64_t before, after;
  __asm__ volatile("mov %%gs:0, %0\n swapgs\n mov %%gs:0, %1\n swapgs" : "=r"(before), "=r"(after));
  check("SWAPGS exchanges GS.base and KERNEL_GS_BASE", before == 0x1111 && after == 0x2222 &&
        rdmsr(MSR_GS_BASE) == (uintptr_t)&user_area && rdmsr(MSR_KERNEL_GS_BASE) == (uintptr_t)&kernel_area);
  wrmsr(MSR_GS_BASE, 0);

  uintptr_t r = run_user(user_main, 0);
  check("user code finished through SYSCALL", r == 0x600D);
  kprintf("syscall: %s\n", failures ? "FAIL" : "all as expected");
  debug_exit(failures ? EXIT_FAILURE_CODE : EXIT_SUCCESS_CODE);
}
