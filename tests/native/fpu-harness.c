/*
 * Native side of the x87/SSE differential tests (tests/differential/x87-native.test.ts).
 *
 * Reads fixed-size case records from argv[1], runs each on the host CPU and writes fixed-size
 * result records to argv[2]. A case is one instruction (raw bytes, memory operand at [rdi])
 * plus a complete starting state: an FRSTOR image (32-bit protected-mode layout, so any
 * register contents, tags, status and control word can be set), MXCSR, RFLAGS, XMM0/XMM1
 * and 128 bytes of memory. After the instruction the harness stores RFLAGS, RAX, an FXSAVE
 * image, an FNSAVE image, MXCSR, XMM0 and the memory. An exception (SIGFPE for #MF/#XM,
 * SIGILL for #UD, SIGSEGV) is recorded with its trap number and the FXSAVE-format state the
 * kernel saved at the faulting instruction.
 *
 * Layouts are shared with tests/differential/x87-case.ts; keep them in sync.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#define CODE_ADDR 0x10000000UL
#define DATA_ADDR 0x20000000UL

#define IN_SIZE 384
#define IN_CODE 0       /* 32 bytes */
#define IN_CODELEN 32   /* u32 */
#define IN_MXCSR 36     /* u32 */
#define IN_RFLAGS 40    /* u64 */
#define IN_FSAVE 48     /* 108 bytes */
#define IN_XMM 160      /* 32 bytes: xmm0, xmm1 */
#define IN_MEM 192      /* 128 bytes */
#define IN_RAX 320      /* u64 */

#define OUT_SIZE 512
#define OUT_VECTOR 0    /* u32: 0 completed, else the trap number */
#define OUT_MXCSR 4
#define OUT_RFLAGS 8
#define OUT_RAX 16
#define OUT_FSAVE 24    /* 108 bytes (FNSAVE image; zero after an exception) */
#define OUT_FX 136      /* 160 bytes: the FXSAVE header and the eight ST slots */
#define OUT_XMM0 296    /* 16 bytes */
#define OUT_MEM 312     /* 128 bytes */
#define MEM_LEN 128

struct io {
  uint8_t fsave_in[112];
  uint64_t rflags_in;
  uint64_t rax_in;
  uint32_t mxcsr_in;
  uint32_t pad;
  uint8_t xmm_in[32];
  /* outputs */
  uint64_t rflags_out;
  uint64_t rax_out;
  uint32_t mxcsr_out;
  uint32_t pad2;
  uint8_t fsave_out[112];
  uint8_t xmm0_out[16];
  uint8_t fx_out[512] __attribute__((aligned(16)));
};

extern void run_case(struct io *io);
__asm__(
    ".text\n"
    ".globl run_case\n"
    "run_case:\n"
    "  push %rbx\n"
    "  push %rbp\n"
    "  push %r12\n"
    "  push %r13\n"
    "  push %r14\n"
    "  push %r15\n"
    "  mov %rdi, %rbx\n"
    "  frstor 0(%rbx)\n"
    "  ldmxcsr 128(%rbx)\n"
    "  movdqu 136(%rbx), %xmm0\n"
    "  movdqu 152(%rbx), %xmm1\n"
    "  pushq 112(%rbx)\n"
    "  popfq\n"
    "  mov 120(%rbx), %rax\n"
    "  mov $0x20000000, %rdi\n"
    "  mov $0x10000000, %rcx\n"
    "  call *%rcx\n"
    "  pushfq\n"
    "  popq 168(%rbx)\n"
    "  mov %rax, 176(%rbx)\n"
    "  fxsave 320(%rbx)\n"
    "  fnsave 192(%rbx)\n"
    "  stmxcsr 184(%rbx)\n"
    "  movdqu %xmm0, 304(%rbx)\n"
    "  pop %r15\n"
    "  pop %r14\n"
    "  pop %r13\n"
    "  pop %r12\n"
    "  pop %rbp\n"
    "  pop %rbx\n"
    "  ret\n");

_Static_assert(__builtin_offsetof(struct io, rflags_in) == 112, "layout");
_Static_assert(__builtin_offsetof(struct io, rax_in) == 120, "layout");
_Static_assert(__builtin_offsetof(struct io, mxcsr_in) == 128, "layout");
_Static_assert(__builtin_offsetof(struct io, xmm_in) == 136, "layout");
_Static_assert(__builtin_offsetof(struct io, rflags_out) == 168, "layout");
_Static_assert(__builtin_offsetof(struct io, rax_out) == 176, "layout");
_Static_assert(__builtin_offsetof(struct io, mxcsr_out) == 184, "layout");
_Static_assert(__builtin_offsetof(struct io, fsave_out) == 192, "layout");
_Static_assert(__builtin_offsetof(struct io, xmm0_out) == 304, "layout");
_Static_assert(__builtin_offsetof(struct io, fx_out) == 320, "layout");

static sigjmp_buf jb;
static volatile uint32_t sig_trap;
static uint8_t sig_fx[512];
static uint32_t sig_mxcsr;

static void on_signal(int sig, siginfo_t *si, void *ctx) {
  (void)si;
  ucontext_t *uc = (ucontext_t *)ctx;
  sig_trap = (uint32_t)uc->uc_mcontext.gregs[REG_TRAPNO];
  if (sig == SIGILL) sig_trap = 6;
  memset(sig_fx, 0, sizeof sig_fx);
  if (uc->uc_mcontext.fpregs) {
    memcpy(sig_fx, uc->uc_mcontext.fpregs, 512);
    sig_mxcsr = uc->uc_mcontext.fpregs->mxcsr;
  }
  siglongjmp(jb, 1);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: fpu-harness CASES.bin RESULTS.bin\n");
    return 64;
  }
  FILE *in = fopen(argv[1], "rb");
  if (!in) {
    perror(argv[1]);
    return 66;
  }
  fseek(in, 0, SEEK_END);
  long sz = ftell(in);
  fseek(in, 0, SEEK_SET);
  if (sz < 0 || sz % IN_SIZE != 0) {
    fprintf(stderr, "%s: size %ld is not a multiple of %d\n", argv[1], sz, IN_SIZE);
    return 66;
  }
  size_t n = (size_t)sz / IN_SIZE;
  uint8_t *cases = malloc((size_t)sz + 1);
  uint8_t *results = calloc(n + 1, OUT_SIZE);
  if (!cases || !results || fread(cases, 1, (size_t)sz, in) != (size_t)sz) {
    fprintf(stderr, "cannot read %s\n", argv[1]);
    return 66;
  }
  fclose(in);
  uint8_t *code = mmap((void *)CODE_ADDR, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  uint8_t *data = mmap((void *)DATA_ADDR, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (code != (uint8_t *)CODE_ADDR || data != (uint8_t *)DATA_ADDR) {
    perror("mmap at the fixed code/data addresses");
    return 70;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGFPE, &sa, NULL);
  sigaction(SIGILL, &sa, NULL);
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);

  static struct io io;
  for (size_t k = 0; k < n; k++) {
    const uint8_t *c = cases + k * IN_SIZE;
    uint8_t *r = results + k * OUT_SIZE;
    uint32_t len;
    memcpy(&len, c + IN_CODELEN, 4);
    if (len > 31) len = 31;
    memset(code, 0x90, 64);
    memcpy(code, c + IN_CODE, len);
    code[len] = 0xc3; /* ret */
    memcpy(data, c + IN_MEM, MEM_LEN);
    memset(&io, 0, sizeof io);
    memcpy(io.fsave_in, c + IN_FSAVE, 108);
    memcpy(&io.rflags_in, c + IN_RFLAGS, 8);
    memcpy(&io.rax_in, c + IN_RAX, 8);
    memcpy(&io.mxcsr_in, c + IN_MXCSR, 4);
    memcpy(io.xmm_in, c + IN_XMM, 32);
    sig_trap = 0;
    if (sigsetjmp(jb, 1) == 0) {
      run_case(&io);
      uint32_t v = 0;
      memcpy(r + OUT_VECTOR, &v, 4);
      memcpy(r + OUT_MXCSR, &io.mxcsr_out, 4);
      memcpy(r + OUT_RFLAGS, &io.rflags_out, 8);
      memcpy(r + OUT_RAX, &io.rax_out, 8);
      memcpy(r + OUT_FSAVE, io.fsave_out, 108);
      memcpy(r + OUT_FX, io.fx_out, 160);
      memcpy(r + OUT_XMM0, io.xmm0_out, 16);
    } else {
      uint32_t v = sig_trap ? sig_trap : 0xffffffffu;
      memcpy(r + OUT_VECTOR, &v, 4);
      memcpy(r + OUT_MXCSR, &sig_mxcsr, 4);
      memcpy(r + OUT_FX, sig_fx, 160);
      memcpy(r + OUT_XMM0, sig_fx + 160, 16);
    }
    memcpy(r + OUT_MEM, data, MEM_LEN);
  }
  FILE *out = fopen(argv[2], "wb");
  if (!out || fwrite(results, OUT_SIZE, n, out) != n || fclose(out) != 0) {
    perror(argv[2]);
    return 73;
  }
  return 0;
}
