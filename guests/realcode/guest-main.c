/* realcode guest: runs the kernels of kernels.c one by one in ring 3 on 4 KiB identity-mapped pages (as a
 * user process runs), each on a 1 MiB stack, and prints one line per kernel from ring 0. The lines are the
 * host's timing markers: a kernel's phase runs from the previous line to its own.
 *   cmdline: quick (the test size) | scale=N (multiplies every size) | only=a,b (a subset, in suite order)
 *            | passes=N (runs the whole suite N times: later passes run already-translated code)
 *            | tsc (each kernel line ends with " tsc <RDTSC delta>": QEMU's TSC is the host's, so the bench
 *              splits QEMU's time between kernels by it instead of by when lines reach the host)
 *   output:  realcode: start <32|64>-bit <quick|default> x<scale>
 *            realcode: <kernel> n=<n> checksum <hex>      (one per kernel; the host program prints the same)
 *            realcode: total <hex>                          (after each pass)
 * A kernel's failed self-check prints "realcode: FAIL <kernel>: <why>" and exits with code 1. */
#include "rt.h"
#include "trap.h"
#include "user.h"
#include "rc.h"

#define MAPPED_MIB 64
#define PTE_P 1u
#define PTE_W 2u
#define PTE_U 4u
#define CR0_MP (1u << 1)
#define CR0_EM (1u << 2)
#define CR0_WP (1u << 16)
#define CR0_PG (1u << 31)
#define CR4_OSFXSR (1u << 9)
#define CR4_OSXMMEXCPT (1u << 10)

struct job {
  uint32_t kernel, n, sum;
};
static struct job job;
static uint8_t user_big_stack[1 << 20] ALIGNED(16);
static char cmdline[256], only[128];

/* Calls fn(arg) on another stack and returns its result (the runtime's ring-3 stack is 16 KiB). */
uintptr_t call_on_stack(uintptr_t (*fn)(uintptr_t), uintptr_t arg, void *top);
#ifdef __x86_64__
__asm__(".text\n.globl call_on_stack\ncall_on_stack:\n"
        "  push %rbp\n  mov %rsp, %rbp\n  mov %rdx, %rsp\n  mov %rdi, %rax\n  mov %rsi, %rdi\n"
        "  call *%rax\n  mov %rbp, %rsp\n  pop %rbp\n  ret\n");
#else
__asm__(".text\n.globl call_on_stack\ncall_on_stack:\n"
        "  push %ebp\n  mov %esp, %ebp\n  mov 16(%ebp), %esp\n  sub $12, %esp\n  push 12(%ebp)\n"
        "  call *8(%ebp)\n  mov %ebp, %esp\n  pop %ebp\n  ret\n");
#endif

static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64_t)hi << 32 | lo;
}

static uintptr_t run_kernel(uintptr_t arg) {
  struct job *j = (struct job *)arg;
  j->sum = rc_kernels[j->kernel].fn(j->n);
  return 0x600D;
}
static uintptr_t user_entry(uintptr_t arg) { return call_on_stack(run_kernel, arg, user_big_stack + sizeof user_big_stack); }

/* 4 KiB pages for the first MAPPED_MIB MiB, user-accessible: the TLB sees what it sees under an OS. */
#ifdef __x86_64__
extern uint64_t boot_pd[];
static uint64_t page_tables[MAPPED_MIB / 2][512] ALIGNED(4096);
static void paging_init(void) {
  for (uint32_t t = 0; t < MAPPED_MIB / 2; t++) {
    for (uint32_t i = 0; i < 512; i++) page_tables[t][i] = ((uint64_t)t * 512 + i) * 4096 | PTE_P | PTE_W | PTE_U;
    boot_pd[t] = (uint64_t)(uintptr_t)page_tables[t] | PTE_P | PTE_W | PTE_U;
  }
  WRITE_CR(3, READ_CR(3)); /* the 2 MiB translations of that range go */
}
#else
static uint32_t page_dir[1024] ALIGNED(4096);
static uint32_t page_tables[MAPPED_MIB / 4][1024] ALIGNED(4096);
static void paging_init(void) {
  for (uint32_t t = 0; t < MAPPED_MIB / 4; t++) {
    for (uint32_t i = 0; i < 1024; i++) page_tables[t][i] = (t * 1024 + i) * 4096 | PTE_P | PTE_W | PTE_U;
    page_dir[t] = (uint32_t)(uintptr_t)page_tables[t] | PTE_P | PTE_W | PTE_U;
  }
  WRITE_CR(3, (uintptr_t)page_dir);
  WRITE_CR(0, READ_CR(0) | CR0_PG | CR0_WP);
}
#endif

/* The build's float switch (see build.fpu in the manifest): an SSE2 build lets the kernels use SSE. */
static void fpu_init(void) {
#ifdef __SSE2__
  WRITE_CR(0, (READ_CR(0) & ~(uintptr_t)CR0_EM) | CR0_MP);
  WRITE_CR(4, READ_CR(4) | CR4_OSFXSR | CR4_OSXMMEXCPT);
#endif
}

static int selected(const char *name) {
  if (!only[0]) return 1;
  size_t n = strlen(name);
  for (const char *p = only; *p;) {
    const char *e = p;
    while (*e && *e != ',') e++;
    if ((size_t)(e - p) == n && !strncmp(p, name, n)) return 1;
    if (!*e) break;
    p = e + 1;
  }
  return 0;
}

/* One pass over the selected kernels: a line per kernel, then the total. */
static void run_suite(int quick, uint32_t scale, int tsc) {
  uint32_t total = 0;
  for (uint32_t k = 0; k < rc_kernel_count; k++) {
    const struct rc_kernel *kn = &rc_kernels[k];
    if (!selected(kn->name)) continue;
    job.kernel = k;
    job.n = (quick ? kn->n_quick : kn->n_default) * scale;
    uint64_t t0 = tsc ? rdtsc() : 0;
    uintptr_t r = run_user(user_entry, (uintptr_t)&job);
    uint64_t dt = tsc ? rdtsc() - t0 : 0;
    if (rc_failure || r != 0x600D) {
      kprintf("realcode: FAIL %s: %s\n", kn->name, rc_failure ? rc_failure : "did not return");
      debug_exit(EXIT_FAILURE_CODE);
    }
    total = rc_mix(total, job.sum);
    if (tsc) kprintf("realcode: %s n=%u checksum %08x tsc %llu\n", kn->name, job.n, job.sum, (unsigned long long)dt);
    else kprintf("realcode: %s n=%u checksum %08x\n", kn->name, job.n, job.sum);
  }
  kprintf("realcode: total %08x\n", total);
}

extern char __image_end[];

void kmain(uint32_t magic, uint32_t info) {
  fpu_init();
  serial_init();
  const char *cl = mb_cmdline(magic, info);
  size_t cl_len = strlen(cl);
  if (cl_len >= sizeof cmdline) cl_len = sizeof cmdline - 1;
  memcpy(cmdline, cl, cl_len);
  int quick = cmdline_has_word(cmdline, "quick"), tsc = cmdline_has_word(cmdline, "tsc");
  uint32_t scale = cmdline_get_u32(cmdline, "scale", 1);
  if (!scale) scale = 1;
  cmdline_get(cmdline, "only", only, sizeof only);
  if ((uintptr_t)__image_end > (uintptr_t)MAPPED_MIB << 20) {
    kprintf("realcode: FAIL image ends past the %u MiB mapped\n", MAPPED_MIB);
    debug_exit(EXIT_FAILURE_CODE);
  }
  trap_init();
  paging_init();
  kprintf("realcode: start %u-bit %s x%u\n", (unsigned)(sizeof(void *) * 8), quick ? "quick" : "default", scale);
  uint32_t passes = cmdline_get_u32(cmdline, "passes", 1);
  for (uint32_t pass = 0; pass < passes; pass++) run_suite(quick, scale, tsc);
  debug_exit(EXIT_SUCCESS_CODE);
}
