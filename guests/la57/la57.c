/* la57: 5-level paging. Starts in long mode with the runtime's 4-level tables, checks that an address beyond 48
 * bits is not canonical there, then switches to 5-level paging (switch.S) with a PML5 whose entries 0, 16 and 496
 * all lead to the runtime's PML4: the identity map reappears at 2^52 and at 0xfff0000000000000, both canonical only
 * with 57 bits. Through them: data reads and writes, a call into code, #PF through a PML5 entry that is not
 * present (error code, CR2), INVLPG of a PML5 entry's translation, #GP for addresses that are not canonical with
 * 57 bits (data, WRMSR of FS base and LSTAR, an indirect jump), and MOV CR4 clearing LA57 in long mode (#GP).
 * Beyond +-2^53 (where the emulator's doubles are not exact; Linux's 5-level direct map 0xff11000000000000 and
 * vmalloc 0xffa0000000000000): reads, writes and page-crossing qwords through aliases there, a stack there (PUSH
 * across a page boundary, CALL, RET, POP), REP MOVSB between them, a GS base there, the top page of the user half
 * (0x00fffffffffff000, its own tables), #PF through absent entries with the exact CR2, and INVLPG. Code there too
 * (switch.S): calls, a hot loop with a RIP-relative operand, the address CALL pushes, SYSCALL with LSTAR there, INT n
 * through a gate there and IRETQ, a fetch #PF with the exact CR2 and RIP; SYSENTER_ESP there (WRMSR/RDMSR, and
 * SYSENTER's RSP with SYSENTER_EIP there). Words leave out what QEMU 7.2 TCG does not do as the SDM says: `no-jmp-ip`
 * where the jump's #GP points (QEMU reports the target, hardware the JMP), `no-msr-canon` the #GP of WRMSR with
 * an address that is not canonical (QEMU takes it). SYSENTER in 64-bit mode is Intel's (#UD on AMD): the QEMU check
 * runs an Intel model, as emu's is. Self-checking. */
#include "rt.h"
#include "trap.h"
#include "gdt.h"

#define HI_POS 0x0010000000000000ull /* PML5 entry 16 */
#define HI_NEG 0xfff0000000000000ull /* PML5 entry 496 */
#define MSR_FS_BASE 0xC0000100u
#define MSR_LSTAR 0xC0000082u
#define MSR_EFER 0xC0000080u
#define MSR_SYSENTER_CS 0x174u
#define MSR_SYSENTER_ESP 0x175u
#define MSR_SYSENTER_EIP 0x176u
#define CR4_LA57 (1u << 12)

extern uint64_t boot_pml4[512];
void la57_enter(uint64_t pml5);
uint64_t high_code_probe(void);
void jmp_to(uint64_t target);
extern char jmp_to_insn[];
uint64_t on_stack(uint64_t rsp, uint64_t (*fn)(void));
uint64_t stack_probe(void);
uint64_t hot_sum(uint64_t n);
uint64_t call_probe(void);
extern char call_probe_ret[], syscall_entry[], do_syscall[], do_int[], int_entry[], do_sysenter[], sysenter_entry[];
extern volatile uint64_t entry_rip;

static uint64_t pml5[512] ALIGNED(4096);
static volatile uint64_t cell = 0x1111111111111111ull;
#define DMAP 0xff11000000000000ull  /* PML5 entry 0x111 */
#define VMAL 0xffa0000000000000ull  /* PML5 entry 0x1a0 */
#define UTOP 0x00fffffffffff000ull  /* PML5 entry 0xff, then entries 511 */
static uint8_t two[8192] ALIGNED(4096);
static uint64_t stk[1024] ALIGNED(4096);
static uint64_t u4[512] ALIGNED(4096), u3[512] ALIGNED(4096), u2[512] ALIGNED(4096), u1[512] ALIGNED(4096);
static uint8_t upage[4096] ALIGNED(4096);
static int failures;

static void check(const char *what, int ok) {
  kprintf("la57: %-62s %s\n", what, ok ? "ok" : "FAIL");
  if (!ok) failures++;
}

/* ---- faults ---- */
static jmp_buf jb;
static volatile uint64_t f_vec, f_err, f_cr2, f_ip;
static void on_fault(struct trap_frame *f) {
  f_vec = f->vector;
  f_err = f->error;
  f_cr2 = READ_CR(2);
  f_ip = f->ip;
  longjmp(jb, 1);
}

/* Runs fn(arg); returns 1 if it faulted (f_vec, f_err, f_cr2, f_ip set). */
static int attempt(uint64_t (*fn)(uint64_t), uint64_t arg, uint64_t *res) {
  f_vec = ~0ull;
  if (setjmp(jb)) return 1;
  uint64_t r = fn(arg);
  if (res) *res = r;
  return 0;
}

static uint64_t do_read(uint64_t a) { return *(volatile uint64_t *)a; }
static uint64_t do_write(uint64_t a) {
  *(volatile uint64_t *)a = 0x5757575757575757ull;
  return 0;
}
static uint64_t do_wrmsr_fs(uint64_t v) {
  wrmsr(MSR_FS_BASE, v);
  return 0;
}
static uint64_t do_wrmsr_lstar(uint64_t v) {
  wrmsr(MSR_LSTAR, v);
  return 0;
}
static uint64_t do_jmp(uint64_t t) {
  jmp_to(t);
  return 0;
}
static uint64_t do_cr4(uint64_t v) {
  WRITE_CR(4, v);
  return 0;
}
static uint64_t read_gs0(uint64_t unused) {
  (void)unused;
  uint64_t v;
  __asm__ volatile("mov %%gs:0, %0" : "=r"(v));
  return v;
}
static uint64_t read_fs0(uint64_t unused) {
  (void)unused;
  uint64_t v;
  __asm__ volatile("mov %%fs:0, %0" : "=r"(v));
  return v;
}

/* Prints the outcome of an attempt that should fault with `vec` and error code `err`. */
static void expect_fault(const char *what, int faulted, unsigned vec, unsigned err) {
  if (!faulted) kprintf("la57: %-62s no fault\n", what);
  else kprintf("la57: %-62s %s(0x%x)\n", what, vec == 13 && f_vec == 13 ? "#GP" : f_vec == 14 ? "#PF" : "vector", (unsigned)f_err);
  if (!faulted || f_vec != vec || f_err != err) {
    kprintf("la57: ^ FAIL: expected vector %u error 0x%x\n", vec, err);
    failures++;
  }
}

void kmain(uint32_t magic, uint32_t info) {
  const char *cl = mb_cmdline(magic, info);
  trap_init();
  trap_set_handler(13, on_fault);
  trap_set_handler(14, on_fault);
  uint32_t r[4];
  cpuid(7, 0, r);
  unsigned has = (r[2] >> 16) & 1;
  cpuid(0x80000008u, 0, r);
  kprintf("la57: CPUID.(EAX=7,ECX=0):ECX.LA57=%u, linear-address bits %u\n", has, (r[0] >> 8) & 0xff);
  if (!has) {
    kprintf("la57: 5-level paging is not offered\n");
    debug_exit(EXIT_FAILURE_CODE);
  }
  const uint64_t cellp = (uint64_t)(uintptr_t)&cell;

  /* 4-level paging: 2^52 is not canonical. */
  expect_fault("4-level: read at 2^52 + &cell", attempt(do_read, HI_POS + cellp, 0), 13, 0);
  const int msr_canon = !cmdline_has_word(cl, "no-msr-canon");
  if (msr_canon) expect_fault("4-level: WRMSR IA32_FS_BASE = 2^52", attempt(do_wrmsr_fs, HI_POS, 0), 13, 0);

  pml5[0] = pml5[16] = pml5[496] = (uint64_t)(uintptr_t)boot_pml4 | 7;
  la57_enter((uint64_t)(uintptr_t)pml5);
  kprintf("la57: 5-level paging on: CR4.LA57=%u EFER.LMA=%u\n", (unsigned)((READ_CR(4) & CR4_LA57) != 0), (unsigned)((rdmsr(MSR_EFER) >> 10) & 1));

  /* The identity map's aliases beyond 48 bits. */
  *(volatile uint64_t *)(HI_POS + cellp) = 0x2222222222222222ull;
  check("write via 2^52 + &cell, read via &cell", cell == 0x2222222222222222ull);
  cell = 0x3333333333333333ull;
  check("write via &cell, read via 0xfff0000000000000 + &cell", do_read(HI_NEG + cellp) == 0x3333333333333333ull);
  uint64_t probe = HI_NEG + (uint64_t)(uintptr_t)high_code_probe;
  check("call code at 0xfff0000000000000 + x: it runs there", ((uint64_t(*)(void))probe)() == probe);

  /* Canonical with 57 bits, and not. */
  uint64_t a47 = (1ull << 47) + cellp;
  expect_fault("read at 2^47 + &cell (canonical now, PML4 entry 256 absent)", attempt(do_read, a47, 0), 14, 0);
  check("  CR2 is the address", f_cr2 == a47);
  expect_fault("read at 2^56 + &cell (not canonical)", attempt(do_read, (1ull << 56) + cellp, 0), 13, 0);
  expect_fault("write at 0xfe00000000000000 + &cell (not canonical)", attempt(do_write, 0xfe00000000000000ull + cellp, 0), 13, 0);

  /* #PF through a PML5 entry that is not present. */
  expect_fault("write at 3 << 48 (PML5 entry 3 absent)", attempt(do_write, 3ull << 48, 0), 14, 2);
  check("  CR2 is the address", f_cr2 == 3ull << 48);
  expect_fault("read at 3 << 48 + 0x123", attempt(do_read, (3ull << 48) + 0x123, 0), 14, 0);
  check("  CR2 is the address", f_cr2 == (3ull << 48) + 0x123);

  /* INVLPG drops the translation through a PML5 entry that went away, and the one that came back. */
  pml5[16] = 0;
  invlpg(HI_POS + cellp);
  expect_fault("PML5 entry 16 cleared, INVLPG, read at 2^52 + &cell", attempt(do_read, HI_POS + cellp, 0), 14, 0);
  check("  CR2 is the address", f_cr2 == HI_POS + cellp);
  pml5[16] = (uint64_t)(uintptr_t)boot_pml4 | 7;
  invlpg(HI_POS + cellp);
  uint64_t v = 0;
  check("PML5 entry 16 back, INVLPG, read at 2^52 + &cell", !attempt(do_read, HI_POS + cellp, &v) && v == 0x3333333333333333ull);

  /* Address MSRs take 57-bit canonical values. */
  check("WRMSR IA32_FS_BASE = 2^52 + &cell", !attempt(do_wrmsr_fs, HI_POS + cellp, 0));
  check("  FS:0 reads the cell", !attempt(read_fs0, 0, &v) && v == 0x3333333333333333ull);
  if (msr_canon) expect_fault("WRMSR IA32_FS_BASE = 2^56", attempt(do_wrmsr_fs, 1ull << 56, 0), 13, 0);
  wrmsr(MSR_FS_BASE, 0);
  uint64_t lstar = rdmsr(MSR_LSTAR);
  check("WRMSR IA32_LSTAR = 0xfff0000000001000, RDMSR reads it", !attempt(do_wrmsr_lstar, HI_NEG + 0x1000, 0) && rdmsr(MSR_LSTAR) == HI_NEG + 0x1000);
  if (msr_canon) expect_fault("WRMSR IA32_LSTAR = 0xfe00000000000000 (not canonical)", attempt(do_wrmsr_lstar, 0xfe00000000000000ull, 0), 13, 0);
  wrmsr(MSR_LSTAR, lstar);

  /* A jump to an address that is not canonical. */
  expect_fault("JMP to 2^56", attempt(do_jmp, 1ull << 56, 0), 13, 0);
  if (!cmdline_has_word(cl, "no-jmp-ip")) check("  the #GP names the JMP", f_ip == (uint64_t)(uintptr_t)jmp_to_insn);

  /* Beyond +-2^53: the identity map again through PML5 entries 0x111 and 0x1a0. */
  pml5[0x111] = pml5[0x1a0] = (uint64_t)(uintptr_t)boot_pml4 | 7;
  const uint64_t twop = (uint64_t)(uintptr_t)two;
  *(volatile uint64_t *)(DMAP + cellp) = 0x4444444444444444ull;
  check("write via 0xff11000000000000 + &cell, read via &cell", cell == 0x4444444444444444ull);
  cell = 0x5555555555555555ull;
  check("write via &cell, read via 0xffa0000000000000 + &cell", do_read(VMAL + cellp) == 0x5555555555555555ull);
  *(volatile uint64_t *)(DMAP + twop + 4093) = 0x0807060504030201ull;
  volatile uint8_t *tw = two;
  check("qword across a page boundary at 0xff11000000000000 + x", tw[4093] == 1 && tw[4095] == 3 && tw[4096] == 4 && tw[4100] == 8);
  check("  read back across it via 0xffa0000000000000 + x", do_read(VMAL + twop + 4093) == 0x0807060504030201ull);
  const uint64_t top = VMAL + (uint64_t)(uintptr_t)stk + 4096 + 4;
  uint64_t sp = on_stack(top, stack_probe);
  check("stack at 0xffa0000000000000 + x: PUSH across pages, CALL, RET", sp == top - 8);
  check("  the old RSP and the return address are in memory there", ((volatile uint64_t *)stk)[511] != 0 && ((volatile uint64_t *)stk)[510] != 0);
  for (int k = 0; k < 64; k++) tw[k] = (uint8_t)(k * 7);
  __asm__ volatile("rep movsb" : : "S"(DMAP + twop), "D"(VMAL + twop + 4096 - 30), "c"(64ul) : "memory");
  int same = 1;
  for (int k = 0; k < 64; k++) same &= tw[4096 - 30 + k] == (uint8_t)(k * 7);
  check("REP MOVSB 0xff11000000000000 + x -> 0xffa0000000000000 + y", same);
  wrmsr(0xC0000101u, DMAP + cellp);
  check("GS base 0xff11000000000000 + &cell: GS:0 reads the cell", read_gs0(0) == 0x5555555555555555ull && rdmsr(0xC0000101u) == DMAP + cellp);
  wrmsr(0xC0000101u, 0);

  /* The top page of the user half, through tables of its own; the page below it absent. */
  u1[511] = (uint64_t)(uintptr_t)upage | 7;
  u2[511] = (uint64_t)(uintptr_t)u1 | 7;
  u3[511] = (uint64_t)(uintptr_t)u2 | 7;
  u4[511] = (uint64_t)(uintptr_t)u3 | 7;
  pml5[0xff] = (uint64_t)(uintptr_t)u4 | 7;
  *(volatile uint64_t *)(UTOP + 0xff8) = 0x6666666666666666ull;
  check("write at 0x00fffffffffffff8, read via its page", *(volatile uint64_t *)(uintptr_t)(upage + 0xff8) == 0x6666666666666666ull);
  expect_fault("write at 0x00ffffffffffe010 (PT entry 510 absent)", attempt(do_write, UTOP - 0x1000 + 0x10, 0), 14, 2);
  check("  CR2 is the address", f_cr2 == UTOP - 0x1000 + 0x10);
  expect_fault("read at 0xff20000000001234 (PML5 entry 0x120 absent)", attempt(do_read, 0xff20000000001234ull, 0), 14, 0);
  check("  CR2 is the address", f_cr2 == 0xff20000000001234ull);
  pml5[0x111] = 0;
  invlpg(DMAP + cellp);
  expect_fault("PML5 entry 0x111 cleared, INVLPG, read at 0xff11000000000000+x", attempt(do_read, DMAP + cellp, 0), 14, 0);
  check("  CR2 is the address", f_cr2 == DMAP + cellp);
  pml5[0x111] = (uint64_t)(uintptr_t)boot_pml4 | 7;
  invlpg(DMAP + cellp);
  check("PML5 entry 0x111 back, INVLPG, read there", !attempt(do_read, DMAP + cellp, &v) && v == 0x5555555555555555ull);

  /* Code beyond +-2^53: the identity map's code through 0xff11000000000000 (DMAP), 0xffa0000000000000 (VMAL) and
   * 0x0080000000000000 (PML5 entry 0x80). Calls, a hot loop with a RIP-relative operand, the address CALL pushes,
   * SYSCALL with LSTAR there (RCX), INT n through a gate there (the frame's RIP), IRETQ, a fetch #PF there. */
  pml5[0x80] = (uint64_t)(uintptr_t)boot_pml4 | 7;
  const uint64_t p55 = 1ull << 55;
  uint64_t at = DMAP + (uint64_t)(uintptr_t)high_code_probe;
  check("call code at 0xff11000000000000 + x: it runs there", ((uint64_t(*)(void))at)() == at);
  at = p55 + (uint64_t)(uintptr_t)high_code_probe;
  check("call code at 0x0080000000000000 + x: it runs there", ((uint64_t(*)(void))at)() == at);
  check("a hot loop at 0xffa0000000000000 + x, RIP-relative operand", ((uint64_t(*)(uint64_t))(VMAL + (uint64_t)(uintptr_t)hot_sum))(200000) == 600000);
  check("  and at 0x0080000000000000 + x", ((uint64_t(*)(uint64_t))(p55 + (uint64_t)(uintptr_t)hot_sum))(200000) == 600000);
  check("CALL at 0xff11000000000000 + x pushes its exact next RIP", ((uint64_t(*)(void))(DMAP + (uint64_t)(uintptr_t)call_probe))() == DMAP + (uint64_t)(uintptr_t)call_probe_ret);
  const uint64_t star = rdmsr(0xC0000081u), efer = rdmsr(MSR_EFER);
  lstar = rdmsr(MSR_LSTAR);
  wrmsr(0xC0000081u, (uint64_t)SEL_KCODE64 << 32);
  wrmsr(MSR_EFER, efer | 1);
  wrmsr(MSR_LSTAR, DMAP + (uint64_t)(uintptr_t)syscall_entry);
  entry_rip = 0;
  uint64_t got = ((uint64_t(*)(void))(VMAL + (uint64_t)(uintptr_t)do_syscall))();
  check("SYSCALL at 0xffa0000000000000 + x: RCX is its next RIP", got == VMAL + (uint64_t)(uintptr_t)do_syscall + 2);
  check("  LSTAR 0xff11000000000000 + x: the entry ran there", entry_rip == DMAP + (uint64_t)(uintptr_t)syscall_entry);
  wrmsr(MSR_LSTAR, lstar);
  wrmsr(MSR_EFER, efer);
  wrmsr(0xC0000081u, star);
  idt_set(0x41, DMAP + (uint64_t)(uintptr_t)int_entry, SEL_KCODE64, IDT_INTERRUPT_GATE, 0, 0, 1);
  entry_rip = 0;
  got = ((uint64_t(*)(void))(p55 + (uint64_t)(uintptr_t)do_int))();
  check("INT 0x41 at 0x0080000000000000 + x: the frame's RIP is exact", got == p55 + (uint64_t)(uintptr_t)do_int + 2);
  check("  the gate's target 0xff11000000000000 + x ran; IRETQ back", entry_rip == DMAP + (uint64_t)(uintptr_t)int_entry);
  idt_reset_vector(0x41);
  /* SYSENTER_ESP beyond +-2^53 (vmalloc): WRMSR/RDMSR keep it exactly, and SYSENTER loads RSP from it and enters at
   * SYSENTER_EIP there. */
  const uint64_t sesp = VMAL + cellp + 3;
  const uint64_t scs = rdmsr(MSR_SYSENTER_CS), sesp0 = rdmsr(MSR_SYSENTER_ESP), seip = rdmsr(MSR_SYSENTER_EIP);
  wrmsr(MSR_SYSENTER_ESP, sesp);
  check("WRMSR IA32_SYSENTER_ESP = 0xffa0000000000000 + x, RDMSR", rdmsr(MSR_SYSENTER_ESP) == sesp);
  wrmsr(MSR_SYSENTER_CS, SEL_KCODE64);
  wrmsr(MSR_SYSENTER_EIP, DMAP + (uint64_t)(uintptr_t)sysenter_entry);
  entry_rip = 0;
  got = ((uint64_t(*)(void))(VMAL + (uint64_t)(uintptr_t)do_sysenter))();
  check("SYSENTER at 0xffa0000000000000 + x: RSP is SYSENTER_ESP", got == sesp);
  check("  SYSENTER_EIP 0xff11000000000000 + x: the entry ran there", entry_rip == DMAP + (uint64_t)(uintptr_t)sysenter_entry);
  wrmsr(MSR_SYSENTER_CS, scs);
  wrmsr(MSR_SYSENTER_ESP, sesp0);
  wrmsr(MSR_SYSENTER_EIP, seip);
  expect_fault("JMP to 0xff20000000001000 (PML5 entry 0x120 absent)", attempt(do_jmp, 0xff20000000001000ull, 0), 14, 0);
  check("  CR2 and the #PF's RIP are the address", f_cr2 == 0xff20000000001000ull && f_ip == 0xff20000000001000ull);
  pml5[0x80] = 0;
  invlpg(p55 + (uint64_t)(uintptr_t)high_code_probe);

  /* The paging depth is fixed in long mode. */
  expect_fault("MOV CR4 clearing LA57 in long mode", attempt(do_cr4, READ_CR(4) & ~(uint64_t)CR4_LA57, 0), 13, 0);
  check("  CR4.LA57 still set", (READ_CR(4) & CR4_LA57) != 0);

  kprintf("la57: %s\n", failures ? "FAILED" : "all as expected");
  debug_exit(failures ? EXIT_FAILURE_CODE : EXIT_SUCCESS_CODE);
}
