/*
 * Native snippet harness: runs x86-64 instruction snippets on the host CPU and
 * records exact hardware results, the reference side of the emu differential test.
 *
 * Usage: snippet-harness CASES_FILE RESULTS_FILE [FX_IN FX_OUT]
 *        snippet-harness --probe
 *
 * --probe runs one small snippet per host facility the differential cases rely on (LDT
 * selector loads, 32-bit compatibility-mode code entered and left by far transfers, IRETQ
 * into it, 16-bit code, port I/O and INT n faulting at CPL 3) through the same trampolines
 * as the cases, and prints one line per facility: name, "ok" or "missing", what ran, and
 * what the CPU did (tab-separated). A batch run probes the same way first and reports the
 * cases of a mode the host cannot run as "unsupported" (they are never attempted).
 *
 * FX_IN/FX_OUT (optional): one 512-byte FXSAVE image per case (no header). The input image
 * is loaded with FXRSTOR64 before the snippet (x87 and SSE state: FCW, FSW, FTW, ST0-7,
 * MXCSR, XMM0-15); the output is the image the kernel saved in the signal frame at the
 * fault (tests/differential/simd-case.ts). Without FX_IN every case starts from the reset
 * state (FCW 0x37f, MXCSR 0x1f80, everything else 0).
 *
 * File formats (little-endian, fixed-size records; keep in sync with
 * src/cpu/emu/testing/snippet-case.ts):
 *   cases:   header "TSDCASE1" u32 count u32 CASE_SIZE, then per case
 *            u32 code_len, u32 mode (0: 64-bit, 1: 32-bit, 2: 16-bit compatibility mode), u64 rflags, u64 gpr[16] (RAX..R15 by
 *            encoding number), u8 code[CODE_MAX], u8 data[DATA_SIZE]
 *   results: header "TSDRES01" u32 count u32 RESULT_SIZE, then per case
 *            u32 vector (0xffffffff: none; 0xfffffffe: timeout; 0xfffffffd: mode unsupported here), u32 error_code,
 *            u64 rflags, u64 gpr[16], u64 rip, u64 fault_addr, u8 data[DATA_SIZE]
 *
 * Each snippet runs in ring 3 of this process with every GPR (including RSP) and
 * the arithmetic flags + DF loaded from the case. The code page sits at CODE_BASE,
 * the data page at DATA_BASE (both fixed, so RIP-relative and absolute addressing
 * give the same addresses under emu), a zero read-only page at RO_BASE. The snippet is
 * followed by HLT, exactly as under emu (so the two code pages hold the same bytes): at
 * CPL 3 it raises #GP(0), and #GP(0) at exactly the end of the snippet means "completed".
 * Every outcome therefore arrives as a signal on an alternate stack; the handler takes
 * the register state from the ucontext (the state at the faulting instruction, RIP
 * pointing at it for faults, after it for traps) and the vector from the trap number,
 * then siglongjmps back.
 *
 * Mode 1 runs the snippet in 32-bit compatibility mode: the trampoline loads DS/ES with
 * Linux's flat user data selector and far-jumps to the 32-bit user code selector. Only
 * the low 32 bits of RAX..RDI are meaningful then (the SDM leaves the upper halves undefined).
 *
 * Mode 2 runs it as 16-bit protected-mode code: two LDT descriptors (modify_ldt) give a
 * 16-bit code segment based at CODE_BASE and a 16-bit data/stack segment based at
 * DATA_BASE (limit 0xffff each), so IP, SP and every data address are offsets from those
 * bases. The reported RIP is CODE_BASE + IP.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <asm/ldt.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/time.h>
#include <ucontext.h>

#define CODE_BASE 0x200000UL
#define DATA_BASE 0x100000UL
/* A read-only, zero-filled user page (write and RMW faults); 0x101000 stays unmapped. */
#define RO_BASE 0x103000UL
#define PAGE_SIZE 4096
#define CODE_MAX 96
#define DATA_SIZE 512
#define CASE_SIZE (8 + 8 + 16 * 8 + CODE_MAX + DATA_SIZE)
#define RESULT_SIZE (8 + 8 + 16 * 8 + 8 + 8 + DATA_SIZE)
/* Arithmetic flags plus DF: the only RFLAGS bits a case may set. TF/AC would trap. */
#define RFLAGS_LOAD_MASK (0x8d5UL | 0x400UL)
/* Linux x86-64 user selectors used below: 32-bit code (__USER32_CS) 0x23, data (__USER_DS) 0x2b. */
/* LDT selectors (index << 3 | TI | RPL 3) of the 16-bit code and data segments. */
#define LDT_CODE16 0x07
#define LDT_DATA16 0x0f
#define VECTOR_NONE 0xffffffffU
#define VECTOR_TIMEOUT 0xfffffffeU
#define VECTOR_UNSUPPORTED 0xfffffffdU
#define FX_SIZE 512
/* struct _fpx_sw_bytes.magic1 in the signal frame's FXSAVE image: an XSAVE area follows. */
#define FP_XSTATE_MAGIC1 0x46505853U

struct cpu_state {
  uint64_t gpr[16];
  uint64_t rflags;
};

/* Globals shared with the trampoline (referenced RIP-relative from asm). */
struct cpu_state g_state;
uint64_t g_entry, g_state_ptr;
/* x87/SSE state loaded before each snippet (FXRSTOR64 needs 16-byte alignment). */
uint8_t g_fx_in[FX_SIZE] __attribute__((aligned(16)));

void run_snippet(struct cpu_state *s, uint64_t entry);
void run_snippet32(struct cpu_state *s);
void run_snippet16(struct cpu_state *s);

__asm__(
    ".intel_syntax noprefix\n"
    ".text\n"
    ".globl run_snippet\n"
    ".type run_snippet,@function\n"
    "run_snippet:\n"
    "  push rbx\n  push rbp\n  push r12\n  push r13\n  push r14\n  push r15\n"
    "  mov [rip+g_state_ptr], rdi\n"
    "  fxrstor64 [rip+g_fx_in]\n"
    "  mov [rip+g_entry], rsi\n"
    "  xor eax, eax\n  mov ds, ax\n  mov es, ax\n" /* a 64-bit Linux process runs with DS=ES=0 */
    "  push qword ptr [rdi+128]\n"
    "  popfq\n"
    /* From here on only MOVs: they leave the loaded flags alone. */
    "  mov rax, [rdi+0]\n  mov rcx, [rdi+8]\n  mov rdx, [rdi+16]\n  mov rbx, [rdi+24]\n"
    "  mov rsp, [rdi+32]\n  mov rbp, [rdi+40]\n  mov rsi, [rdi+48]\n"
    "  mov r8, [rdi+64]\n  mov r9, [rdi+72]\n  mov r10, [rdi+80]\n  mov r11, [rdi+88]\n"
    "  mov r12, [rdi+96]\n  mov r13, [rdi+104]\n  mov r14, [rdi+112]\n  mov r15, [rdi+120]\n"
    "  mov rdi, [rdi+56]\n"
    "  jmp qword ptr [rip+g_entry]\n"
    /* Same, entering 32-bit compatibility mode at CODE_BASE through a far jump. */
    ".globl run_snippet32\n"
    ".type run_snippet32,@function\n"
    "run_snippet32:\n"
    "  push rbx\n  push rbp\n  push r12\n  push r13\n  push r14\n  push r15\n"
    "  mov [rip+g_state_ptr], rdi\n"
    "  fxrstor64 [rip+g_fx_in]\n"
    "  mov ax, 0x2b\n  mov ds, ax\n  mov es, ax\n"
    "  push qword ptr [rdi+128]\n"
    "  popfq\n"
    "  mov rax, [rdi+0]\n  mov rcx, [rdi+8]\n  mov rdx, [rdi+16]\n  mov rbx, [rdi+24]\n"
    "  mov rsp, [rdi+32]\n  mov rbp, [rdi+40]\n  mov rsi, [rdi+48]\n"
    "  mov r8, [rdi+64]\n  mov r9, [rdi+72]\n  mov r10, [rdi+80]\n  mov r11, [rdi+88]\n"
    "  mov r12, [rdi+96]\n  mov r13, [rdi+104]\n  mov r14, [rdi+112]\n  mov r15, [rdi+120]\n"
    "  mov rdi, [rdi+56]\n"
    "  jmp fword ptr [rip+g_far32]\n"
    /* 16-bit: DS/ES/SS = the 16-bit data segment, far jump to IP 0 of the 16-bit code segment. */
    ".globl run_snippet16\n"
    ".type run_snippet16,@function\n"
    "run_snippet16:\n"
    "  push rbx\n  push rbp\n  push r12\n  push r13\n  push r14\n  push r15\n"
    "  mov [rip+g_state_ptr], rdi\n"
    "  fxrstor64 [rip+g_fx_in]\n"
    "  push qword ptr [rdi+128]\n"
    "  popfq\n"
    "  mov ax, 0x0f\n  mov ds, ax\n  mov es, ax\n  mov ss, ax\n"
    "  mov rax, [rdi+0]\n  mov rcx, [rdi+8]\n  mov rdx, [rdi+16]\n  mov rbx, [rdi+24]\n"
    "  mov rsp, [rdi+32]\n  mov rbp, [rdi+40]\n  mov rsi, [rdi+48]\n"
    "  mov r8, [rdi+64]\n  mov r9, [rdi+72]\n  mov r10, [rdi+80]\n  mov r11, [rdi+88]\n"
    "  mov r12, [rdi+96]\n  mov r13, [rdi+104]\n  mov r14, [rdi+112]\n  mov r15, [rdi+120]\n"
    "  mov rdi, [rdi+56]\n"
    "  jmp fword ptr [rip+g_far16]\n"
    ".data\n"
    "g_far32: .long 0x200000\n  .word 0x23\n"
    "g_far16: .long 0\n  .word 0x07\n"
    ".text\n"
    ".att_syntax prefix\n");

static sigjmp_buf g_jmp;
static volatile sig_atomic_t g_running;
static struct {
  uint32_t vector, error_code;
  uint64_t gpr[16], rflags, rip, fault_addr;
  uint16_t cs;
  uint8_t fx[FX_SIZE];
} g_fault;

/* ucontext gregs index for each GPR encoding number (RAX..R15). */
static const int GREG_OF[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                                REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};

/*
 * Copies the x87/SSE state at the fault from the signal frame. The kernel writes it with
 * XSAVE, which skips components in their initial configuration (their XSTATE_BV bit is
 * clear and the bytes in the frame are stale): fill those with the initial values.
 */
static void save_fx(const ucontext_t *uc) {
  const uint8_t *fp = (const uint8_t *)uc->uc_mcontext.fpregs;
  memcpy(g_fault.fx, fp, FX_SIZE);
  memset(g_fault.fx + 464, 0, FX_SIZE - 464); /* software-reserved bytes */
  uint32_t magic;
  memcpy(&magic, fp + 464, 4);
  if (magic != FP_XSTATE_MAGIC1) return;
  uint64_t xstate_bv;
  memcpy(&xstate_bv, fp + 512, 8);
  if ((xstate_bv & 1) == 0) {
    memset(g_fault.fx, 0, 24);
    g_fault.fx[0] = 0x7f; /* FCW 0x037f */
    g_fault.fx[1] = 0x03;
    memset(g_fault.fx + 32, 0, 128);
  }
  if ((xstate_bv & 2) == 0) memset(g_fault.fx + 160, 0, 256);
}

/* The reset-state image (FNINIT, MXCSR 0x1f80) into g_fx_in. */
static void default_fx(void) {
  memset(g_fx_in, 0, FX_SIZE);
  g_fx_in[0] = 0x7f;
  g_fx_in[1] = 0x03;
  g_fx_in[24] = 0x80;
  g_fx_in[25] = 0x1f;
}

static void on_fault(int sig, siginfo_t *si, void *ctx) {
  ucontext_t *uc = (ucontext_t *)ctx;
  if (!g_running) {
    if (sig == SIGPROF) return; /* timer fired just after the snippet finished */
    /* A fault in the harness itself: give up loudly rather than loop. */
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  g_running = 0;
  for (int i = 0; i < 16; i++) g_fault.gpr[i] = (uint64_t)uc->uc_mcontext.gregs[GREG_OF[i]];
  g_fault.rflags = (uint64_t)uc->uc_mcontext.gregs[REG_EFL];
  g_fault.rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
  g_fault.cs = (uint16_t)(uc->uc_mcontext.gregs[REG_CSGSFS] & 0xffff);
  g_fault.fault_addr = (uint64_t)(uintptr_t)si->si_addr;
  g_fault.error_code = (uint32_t)uc->uc_mcontext.gregs[REG_ERR];
  save_fx(uc);
  if (sig == SIGPROF) {
    g_fault.vector = VECTOR_TIMEOUT;
  } else {
    /* The hardware vector (#DE=0, #DB=1, #BP=3, #UD=6, #GP=13, #PF=14, ...). */
    g_fault.vector = (uint32_t)uc->uc_mcontext.gregs[REG_TRAPNO];
  }
  siglongjmp(g_jmp, 1);
}

static void die(const char *what) {
  fprintf(stderr, "snippet-harness: %s: %s\n", what, strerror(errno));
  exit(2);
}

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint8_t *g_code, *g_data;
/* Modes this host can run (index: 0 64-bit, 1 32-bit, 2 16-bit), set by probe_facilities. */
static int g_mode_ok[3] = {1, 0, 0};
/* Whether modify_ldt installed the 16-bit segments, and why not. */
static int g_ldt_installed;
static char g_ldt_error[96];

/* Runs one case record and fills one result record. */
static void run_case(const uint8_t *rec, uint8_t *res) {
  /* CPU time, not wall time: on a loaded host a wall-clock timer fired on snippets that were only waiting for a core. */
  static const struct itimerval arm = {.it_interval = {0, 0}, .it_value = {0, 200000}};
  static const struct itimerval disarm = {{0, 0}, {0, 0}};
  uint8_t *code = g_code, *data = g_data;
  uint32_t code_len = rd32(rec);
  uint32_t mode = rd32(rec + 4);
  if (mode > 2 || !g_mode_ok[mode]) {
    memset(res, 0, RESULT_SIZE);
    wr32(res, VECTOR_UNSUPPORTED);
    return;
  }
  memset(code, 0xcc, PAGE_SIZE);
  memcpy(code, rec + 16 + 128, code_len);
  code[code_len] = 0xf4; /* HLT: #GP(0) at CPL 3 marks the end */
  memset(data, 0, PAGE_SIZE);
  memcpy(data, rec + 16 + 128 + CODE_MAX, DATA_SIZE);
  g_state.rflags = (rd64(rec + 8) & (RFLAGS_LOAD_MASK)) | 0x202;
  for (int i = 0; i < 16; i++) g_state.gpr[i] = rd64(rec + 16 + 8 * i);

  setitimer(ITIMER_PROF, &arm, NULL);
  if (sigsetjmp(g_jmp, 1) == 0) {
    g_running = 1;
    if (mode == 1)
      run_snippet32(&g_state);
    else if (mode == 2)
      run_snippet16(&g_state);
    else
      run_snippet(&g_state, CODE_BASE);
    /* not reached: every snippet ends in a signal (at the latest, the HLT end marker's #GP) */
  }
  uint32_t vector = g_fault.vector, error_code = g_fault.error_code;
  /* Report a linear RIP: the 16-bit code segment is based at CODE_BASE (a snippet may have
     far-transferred elsewhere, so go by the CS it faulted in). */
  uint64_t rip = g_fault.cs == LDT_CODE16 ? CODE_BASE + (g_fault.rip & 0xffff) : g_fault.rip;
  uint64_t fault_addr = g_fault.fault_addr;
  memcpy(g_state.gpr, g_fault.gpr, sizeof g_state.gpr);
  g_state.rflags = g_fault.rflags;
  if (vector == 13 && error_code == 0 && rip == CODE_BASE + code_len) vector = VECTOR_NONE; /* the end marker */
  setitimer(ITIMER_PROF, &disarm, NULL);

  wr32(res, vector);
  wr32(res + 4, error_code);
  wr64(res + 8, g_state.rflags);
  for (int i = 0; i < 16; i++) wr64(res + 16 + 8 * i, g_state.gpr[i]);
  wr64(res + 144, rip);
  wr64(res + 152, fault_addr);
  memcpy(res + 160, data, DATA_SIZE);
}

/* ---- Host facility probes ---- */

struct probe {
  const char *facility; /* the facility this step belongs to */
  const char *what;     /* what the snippet does, for the report */
  uint32_t mode;        /* 0 64-bit, 1 32-bit, 2 16-bit */
  const char *code;     /* hex bytes */
  uint64_t rax, rdx;
  /* Expected outcome: no exception, RIP at CODE_BASE + end (0: the code length), RAX, CS. */
  uint32_t end;
  uint64_t want_rax;
  uint16_t want_cs;
  /* Instead: expected exception vector and error code (want_vector != VECTOR_NONE). */
  uint32_t want_vector, want_error;
};

/* Each facility is "ok" only if every one of its steps gives exactly the architectural result. */
static const struct probe PROBES[] = {
    /* LDT selectors (modify_ldt entries 0 and 1) loaded into ES, DS and SS, then read back. */
    {"ldt", "mov es, 0x0f (LDT data selector); mov ecx, es; mov rax, rcx", 0, "8e c0 8c c1 48 89 c8", 0x0f, 0, 0, 0x0f, 0x33, VECTOR_NONE, 0},
    {"ldt", "mov ds, 0x0f (LDT data selector); mov ecx, ds; mov rax, rcx", 0, "8e d8 8c d9 48 89 c8", 0x0f, 0, 0, 0x0f, 0x33, VECTOR_NONE, 0},
    {"ldt", "mov ss, 0x0f (LDT data selector); mov ecx, ss; mov rax, rcx", 0, "8e d0 8c d1 48 89 c8", 0x0f, 0, 0, 0x0f, 0x33, VECTOR_NONE, 0},
    {"ldt", "mov es, 0x07 (LDT readable code selector); mov ecx, es; mov rax, rcx", 0, "8e c0 8c c1 48 89 c8", 0x07, 0, 0, 0x07, 0x33, VECTOR_NONE, 0},
    /* Linux's 32-bit user code segment 0x23: entered by far JMP (the harness's mode 1), left by far
       JMP to 0x33, entered by far CALL m16:32 from 64-bit code and left by RETF, loaded into DS. */
    {"compat32", "far jmp 0x23:code; inc eax (40: INC only in 32-bit code)", 1, "40", 0, 0, 0, 1, 0x23, VECTOR_NONE, 0},
    {"compat32", "32-bit code: far jmp 0x33:next; inc rax", 1, "ea 07 00 20 00 33 00 48 ff c0", 0, 0, 0, 1, 0x33, VECTOR_NONE, 0},
    {"compat32", "64-bit code: far call m16:32 to 0x23; inc eax; retf", 0, "ff 1d 02 00 00 00 eb 08 0e 00 20 00 23 00 40 cb", 0, 0, 0, 1, 0x33, VECTOR_NONE, 0},
    {"compat32", "mov ds, 0x23 (readable code segment); mov ecx, ds; mov rax, rcx", 0, "8e d8 8c d9 48 89 c8", 0x23, 0, 0, 0x23, 0x33, VECTOR_NONE, 0},
    /* IRETQ from 64-bit code to 0x23 (a 32-bit `inc eax` at the target). */
    {"iret-compat", "iretq to 0x23:target; inc eax", 0, "48 8d 05 0c 00 00 00 48 89 e1 6a 2b 51 9c 6a 23 50 48 cf 40", 0, 0, 0, 0x200014, 0x23, VECTOR_NONE, 0},
    /* 16-bit protected mode: DS/ES/SS = 0x0f, far JMP to 0x07:0; `inc ax` wraps at 16 bits. */
    {"mode16", "mov ss/ds/es, 0x0f; far jmp 0x07:0; inc ax", 2, "40", 0xffff, 0, 0, 0, 0x07, VECTOR_NONE, 0},
    /* INT n through Linux's DPL-0 gates is #GP(vector * 8 + 2); INT3 reaches the DPL-3 #BP gate. */
    {"int-gates", "int 0x21", 0, "cd 21", 0, 0, 0, 0, 0, 13, 0x10a},
    {"int-gates", "int3", 0, "cc", 0, 0, 0, 0, 0, 3, 0},
    /* Port I/O at CPL 3 without IOPL or an I/O bitmap is #GP(0). Reads port 0x80 if allowed. */
    {"cpl3-io", "in al, dx (dx = 0x80)", 0, "ec", 0, 0x80, 0, 0, 0, 13, 0},
};
#define NPROBES (sizeof PROBES / sizeof PROBES[0])

static const char *vector_name(uint32_t v, char *buf, size_t n) {
  if (v == VECTOR_NONE) return "no exception";
  if (v == VECTOR_TIMEOUT) return "a timeout";
  static const char *names[] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "?", "#TS", "#NP", "#SS", "#GP", "#PF"};
  if (v < sizeof names / sizeof names[0]) return names[v];
  snprintf(buf, n, "vector %u", v);
  return buf;
}

/* Runs one probe step; writes what happened into `got` and returns whether it is the expected result. */
static int run_probe(const struct probe *p, char *got, size_t gotn) {
  static uint8_t rec[CASE_SIZE], res[RESULT_SIZE];
  memset(rec, 0, CASE_SIZE);
  uint32_t len = 0;
  for (const char *c = p->code; *c;) {
    while (*c == ' ') c++;
    if (!*c) break;
    rec[16 + 128 + len++] = (uint8_t)strtoul((char[]){c[0], c[1], 0}, NULL, 16);
    c += 2;
  }
  wr32(rec, len);
  wr32(rec + 4, p->mode);
  wr64(rec + 16 + 0 * 8, p->rax);
  wr64(rec + 16 + 2 * 8, p->rdx);
  /* RSP: the top of the data area (an offset in the 16-bit data segment for mode 2). */
  wr64(rec + 16 + 4 * 8, p->mode == 2 ? DATA_SIZE : DATA_BASE + DATA_SIZE);
  int saved = g_mode_ok[p->mode];
  g_mode_ok[p->mode] = 1;
  run_case(rec, res);
  g_mode_ok[p->mode] = saved;
  uint32_t vector = rd32(res), err = rd32(res + 4);
  uint64_t rax = rd64(res + 16), rip = rd64(res + 144);
  uint16_t cs = g_fault.cs;
  char vb[24], where[48];
  if (rip >= CODE_BASE && rip < CODE_BASE + PAGE_SIZE)
    snprintf(where, sizeof where, "snippet +0x%llx", (unsigned long long)(rip - CODE_BASE));
  else
    snprintf(where, sizeof where, "the harness's trampoline, before the snippet");
  if (vector == VECTOR_NONE)
    snprintf(got, gotn, "no exception, ended at %s with rax 0x%llx, cs 0x%x", where, (unsigned long long)rax, cs);
  else
    snprintf(got, gotn, "%s(0x%x) in %s", vector_name(vector, vb, sizeof vb), err, where);
  if (p->want_vector != VECTOR_NONE) return vector == p->want_vector && err == p->want_error;
  /* Modes 1 and 2 compare 32 bits: the upper halves are undefined after compatibility mode. */
  uint64_t mask = p->mode != 0 ? 0xffffffffULL : ~0ULL;
  return vector == VECTOR_NONE && rip == CODE_BASE + (p->end ? p->end : len) && (rax & mask) == (p->want_rax & mask) && cs == p->want_cs;
}

/*
 * Probes every facility; sets g_mode_ok for modes 1 and 2. With `print`, writes one line per
 * facility: name, ok|missing, the step that decided it, what the CPU did.
 */
static void probe_facilities(int print) {
  static const char *facilities[] = {"ldt", "compat32", "iret-compat", "mode16", "int-gates", "cpl3-io"};
  for (unsigned f = 0; f < sizeof facilities / sizeof facilities[0]; f++) {
    const char *name = facilities[f];
    int ok = 1;
    char got[192] = "";
    const char *what = "";
    for (unsigned i = 0; i < NPROBES && ok; i++) {
      if (strcmp(PROBES[i].facility, name) != 0) continue;
      /* The 16-bit trampoline loads DS/ES/SS with an LDT selector and far-jumps to another. */
      if (PROBES[i].mode == 2 && !g_ldt_installed) {
        ok = 0;
        what = "modify_ldt (install the 16-bit code and data segments)";
        snprintf(got, sizeof got, "%s", g_ldt_error);
        break;
      }
      what = PROBES[i].what;
      ok = run_probe(&PROBES[i], got, sizeof got);
    }
    if (strcmp(name, "ldt") == 0 && !g_ldt_installed) {
      ok = 0;
      what = "modify_ldt (install the 16-bit code and data segments)";
      snprintf(got, sizeof got, "%s", g_ldt_error);
    }
    if (strcmp(name, "compat32") == 0) g_mode_ok[1] = ok;
    if (strcmp(name, "mode16") == 0) g_mode_ok[2] = ok;
    if (print) printf("%s\t%s\t%s\t%s\n", name, ok ? "ok" : "missing", what, got);
  }
}

/* Maps the code, data and read-only pages, installs the LDT segments and the signal handlers. */
static void setup(void) {
  g_code = mmap((void *)CODE_BASE, PAGE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (g_code != (uint8_t *)CODE_BASE) die("mmap code page");
  g_data = mmap((void *)DATA_BASE, PAGE_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (g_data != (uint8_t *)DATA_BASE) die("mmap data page");
  void *ro = mmap((void *)RO_BASE, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_POPULATE, -1, 0);
  if (ro != (void *)RO_BASE) die("mmap read-only page");
  /* Fault the (zero) page in now: a write to a never-touched page would report P=0 in the
     #PF error code, and P=1 once any earlier case had read it. */
  (void)*(volatile uint8_t *)ro;

  /* 16-bit segments for mode 2 (LDT entries 0 and 1). */
  struct user_desc ld;
  memset(&ld, 0, sizeof ld);
  ld.entry_number = 0;
  ld.base_addr = CODE_BASE;
  ld.limit = 0xffff;
  ld.contents = MODIFY_LDT_CONTENTS_CODE;
  ld.useable = 1;
  g_ldt_installed = syscall(SYS_modify_ldt, 1, &ld, sizeof ld) == 0;
  if (g_ldt_installed) {
    ld.entry_number = 1;
    ld.base_addr = DATA_BASE;
    ld.contents = MODIFY_LDT_CONTENTS_DATA;
    g_ldt_installed = syscall(SYS_modify_ldt, 1, &ld, sizeof ld) == 0;
  }
  if (!g_ldt_installed) snprintf(g_ldt_error, sizeof g_ldt_error, "modify_ldt failed: %s", strerror(errno));

  static uint8_t altstack[65536];
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) die("sigaltstack");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGPROF};
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (sigaction(sigs[i], &sa, NULL) != 0) die("sigaction");

}

int main(int argc, char **argv) {
  default_fx();
  if (argc == 2 && strcmp(argv[1], "--probe") == 0) {
    setup();
    probe_facilities(1);
    return fflush(stdout) == 0 ? 0 : 2;
  }
  if (argc != 3 && argc != 5) {
    fprintf(stderr, "usage: %s CASES_FILE RESULTS_FILE [FX_IN FX_OUT] | --probe\n", argv[0]);
    return 2;
  }
  FILE *in = fopen(argv[1], "rb");
  if (!in) die(argv[1]);
  uint8_t hdr[16];
  if (fread(hdr, 1, 16, in) != 16 || memcmp(hdr, "TSDCASE1", 8) != 0) {
    fprintf(stderr, "snippet-harness: %s is not a case file (bad header)\n", argv[1]);
    return 2;
  }
  uint32_t count = rd32(hdr + 8), case_size = rd32(hdr + 12);
  if (case_size != CASE_SIZE) {
    fprintf(stderr, "snippet-harness: case size %u, expected %u (rebuild the harness)\n", case_size, CASE_SIZE);
    return 2;
  }
  FILE *out = fopen(argv[2], "wb");
  if (!out) die(argv[2]);
  FILE *fxin = NULL, *fxout = NULL;
  if (argc == 5) {
    fxin = fopen(argv[3], "rb");
    if (!fxin) die(argv[3]);
    fxout = fopen(argv[4], "wb");
    if (!fxout) die(argv[4]);
  }
  setup();

  uint8_t ohdr[16];
  memcpy(ohdr, "TSDRES01", 8);
  wr32(ohdr + 8, count);
  wr32(ohdr + 12, RESULT_SIZE);
  fwrite(ohdr, 1, 16, out);

  static uint8_t rec[CASE_SIZE], res[RESULT_SIZE];
  probe_facilities(0);

  for (uint32_t n = 0; n < count; n++) {
    if (fread(rec, 1, CASE_SIZE, in) != CASE_SIZE) {
      fprintf(stderr, "snippet-harness: truncated case file at case %u\n", n);
      return 2;
    }
    uint32_t code_len = rd32(rec);
    if (code_len > CODE_MAX) {
      fprintf(stderr, "snippet-harness: case %u: code length %u > %u\n", n, code_len, CODE_MAX);
      return 2;
    }
    if (fxin && fread(g_fx_in, 1, FX_SIZE, fxin) != FX_SIZE) {
      fprintf(stderr, "snippet-harness: truncated FX file at case %u\n", n);
      return 2;
    }
    run_case(rec, res);
    if (fwrite(res, 1, RESULT_SIZE, out) != RESULT_SIZE) die("write results");
    if (fxout && fwrite(g_fault.fx, 1, FX_SIZE, fxout) != FX_SIZE) die("write FX results");
  }
  if (fclose(out) != 0) die("close results");
  if (fxout && fclose(fxout) != 0) die("close FX results");
  return 0;
}
