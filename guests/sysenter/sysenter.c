/* sysenter (32-bit guest): SYSENTER/SYSEXIT between ring 3 and ring 0 (the legacy-mode fast system call that
 * both Intel and AMD implement). The kernel side checks CS/SS/ESP/EFLAGS after SYSENTER; the user side checks
 * CS 0x1b, SS 0x23 and the registers after SYSEXIT. Mismatches print FAIL and exit with code 1. */
#include "rt.h"
#include "trap.h"
#include "user.h"
#include "gdt.h"

#define MSR_SYSENTER_CS 0x174u
#define MSR_SYSENTER_ESP 0x175u
#define MSR_SYSENTER_EIP 0x176u
#define EFLAGS_IF 0x200u
#define SYS_ADD 1
#define SYS_INFO 2
#define SYS_COUNT 3
#define LOOP 1000

static int failures;
static void check(const char *what, int ok) {
  kprintf("sysenter: %-50s %s\n", what, ok ? "ok" : "FAIL");
  failures += !ok;
}

static uint8_t sysenter_stack[8192] ALIGNED(16);
static volatile uint32_t k_cs, k_ss, k_esp, k_eflags, k_count;

/* Kernel entry: ESP = SYSENTER_ESP. ECX (user ESP) and EDX (user EIP) must survive for SYSEXIT. */
uint32_t sysenter_dispatch(uint32_t nr, uint32_t a, uint32_t b, uint32_t esp);
void sysenter_entry(void);
__asm__(".text\n.globl sysenter_entry\nsysenter_entry:\n"
        "  push %ecx\n push %edx\n"
        "  push %esp\n push %esi\n push %ebx\n push %eax\n"
        "  call sysenter_dispatch\n"
        "  add $16, %esp\n"
        "  pop %edx\n pop %ecx\n"
        "  sysexit\n");

uint32_t sysenter_dispatch(uint32_t nr, uint32_t a, uint32_t b, uint32_t esp) {
  switch (nr) {
  case SYS_ADD: return a + b;
  case SYS_INFO: {
    uint16_t cs, ss;
    uint32_t fl;
    __asm__ volatile("mov %%cs, %0\n mov %%ss, %1\n pushf\n pop %2" : "=r"(cs), "=r"(ss), "=r"(fl));
    k_cs = cs; k_ss = ss; k_eflags = fl; k_esp = esp;
    return 0;
  }
  case SYS_COUNT: return ++k_count;
  default: return (uint32_t)-38;
  }
}

static inline uint32_t sys2(uint32_t nr, uint32_t a, uint32_t b) {
  uint32_t ret;
  /* EDX = return EIP, ECX = return ESP; EBP saved by hand */
  __asm__ volatile("push %%ebp\n mov %%esp, %%ecx\n lea 1f, %%edx\n sysenter\n 1:\n pop %%ebp"
                   : "=a"(ret) : "a"(nr), "b"(a), "S"(b) : "ecx", "edx", "edi", "memory", "cc");
  return ret;
}

static uintptr_t user_main(uintptr_t arg) {
  (void)arg;
  uint16_t cs, ss;
  __asm__ volatile("mov %%cs, %0\n mov %%ss, %1" : "=r"(cs), "=r"(ss));
  check("user mode before SYSENTER: CS=0x1b SS=0x23", cs == SEL_UCODE32 && ss == SEL_UDATA);
  check("SYS_ADD", sys2(SYS_ADD, 40000, 2345) == 42345);
  sys2(SYS_INFO, 0, 0);
  kprintf("sysenter: kernel saw CS=0x%x SS=0x%x IF=%u, ESP at the top of the SYSENTER stack%+d\n", k_cs, k_ss,
          (k_eflags & EFLAGS_IF) != 0, (int)(k_esp - ((uintptr_t)sysenter_stack + sizeof sysenter_stack)));
  check("SYSENTER: CS=SYSENTER_CS, SS=+8, ESP=SYSENTER_ESP", k_cs == SEL_KCODE32 && k_ss == SEL_KDATA &&
        k_esp == (uintptr_t)sysenter_stack + sizeof sysenter_stack - 8);
  __asm__ volatile("mov %%cs, %0\n mov %%ss, %1" : "=r"(cs), "=r"(ss));
  check("SYSEXIT: back in ring 3 with CS=0x1b SS=0x23", cs == SEL_UCODE32 && ss == SEL_UDATA);
  uint32_t last = 0;
  for (int i = 0; i < LOOP; i++) last = sys2(SYS_COUNT, 0, 0);
  kprintf("sysenter: %d round trips, kernel counted %u\n", LOOP, last);
  check("round trips counted", last == LOOP);
  return 0x600D;
}

void kmain(uint32_t magic, uint32_t info) {
  (void)magic; (void)info;
  serial_init();
  trap_init();
  kprintf("sysenter: 32-bit guest, SYSENTER/SYSEXIT\n");
  wrmsr(MSR_SYSENTER_CS, SEL_KCODE32);
  wrmsr(MSR_SYSENTER_ESP, (uintptr_t)sysenter_stack + sizeof sysenter_stack);
  wrmsr(MSR_SYSENTER_EIP, (uintptr_t)sysenter_entry);
  uintptr_t r = run_user(user_main, 0);
  check("user code finished", r == 0x600D);
  kprintf("sysenter: %s\n", failures ? "FAIL" : "all as expected");
  debug_exit(failures ? EXIT_FAILURE_CODE : EXIT_SUCCESS_CODE);
}
