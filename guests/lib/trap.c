/* IDT and TSS management shared by the 32-bit and 64-bit guests. */
#include "trap.h"
#include "gdt.h"

#ifdef __x86_64__
struct idt_gate { uint16_t off0, sel; uint8_t ist, attr; uint16_t off1; uint32_t off2, zero; } __attribute__((packed));
struct tss { uint32_t r0; uint64_t rsp[3]; uint64_t r1; uint64_t ist[7]; uint64_t r2; uint16_t r3, iomap; } __attribute__((packed));
#else
struct idt_gate { uint16_t off0, sel; uint8_t zero, attr; uint16_t off1; } __attribute__((packed));
struct tss {
  uint32_t link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
  uint32_t es, cs, ss, ds, fs, gs, ldt;
  uint16_t trap, iomap;
} __attribute__((packed));
#endif

static struct idt_gate idt[256] ALIGNED(16);
static trap_handler_t handlers[256];
static struct tss tss ALIGNED(16);
extern uint64_t gdt[];

static const char *const names[32] = {
  "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "R15",
  "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "R22", "R23", "R24", "R25", "R26", "R27", "#HV", "#VC", "#SX", "R31",
};

const char *exception_name(unsigned vec) { return vec < 32 ? names[vec] : "INT"; }

void idt_set(unsigned vec, uintptr_t target, uint16_t sel, unsigned type, unsigned dpl, unsigned ist, int present) {
  struct idt_gate *g = &idt[vec & 255];
  memset(g, 0, sizeof *g);
  g->off0 = (uint16_t)target;
  g->off1 = (uint16_t)(target >> 16);
  g->sel = sel;
  g->attr = (uint8_t)((present ? 0x80 : 0) | (dpl << 5) | (type & 0xF));
#ifdef __x86_64__
  g->off2 = (uint32_t)((uint64_t)target >> 32);
  g->ist = (uint8_t)ist;
#else
  (void)ist;
#endif
}

#ifdef __x86_64__
#define KCODE SEL_KCODE64
#else
#define KCODE SEL_KCODE32
#endif

void idt_reset_vector(unsigned vec) { idt_set(vec, trap_stubs[vec & 255], KCODE, IDT_INTERRUPT_GATE, 0, 0, 1); }

uint8_t trap_use_iret;

void trap_load(void) {
  struct { uint16_t limit; uintptr_t base; } __attribute__((packed)) d = { sizeof idt - 1, (uintptr_t)idt };
  __asm__ volatile("lidt %0" ::"m"(d));
}

void trap_init(void) {
  trap_use_iret = (uint8_t)!hv_is_kvm();
  for (unsigned v = 0; v < 256; v++) idt_reset_vector(v);
  trap_load();
}

void trap_set_handler(unsigned vec, trap_handler_t h) { handlers[vec & 255] = h; }

/* run_user's way back from ring 3 (see user-*.c): a UD2 at a known address, taken before any handler. */
uintptr_t trap_user_exit_ip;
void (*trap_user_exit)(struct trap_frame *f);

void trap_dispatch(struct trap_frame *f);
void trap_dispatch(struct trap_frame *f) {
  if (f->vector == 6 && trap_user_exit && (f->cs & 3) == 3 && f->ip == trap_user_exit_ip) trap_user_exit(f);
  trap_handler_t h = handlers[f->vector & 255];
  if (h) { h(f); return; }
  kprintf("FAIL: unexpected %s (vector %u) error=0x%x ip=%p\n", exception_name((unsigned)f->vector), (unsigned)f->vector,
          (unsigned)f->error, (void *)(uintptr_t)f->ip);
  debug_exit(EXIT_FAILURE_CODE);
}

void tss_init(uintptr_t kstack_top, uintptr_t ist1_top) {
  memset(&tss, 0, sizeof tss);
  uintptr_t base = (uintptr_t)&tss;
  uint32_t limit = sizeof tss - 1;
#ifdef __x86_64__
  tss.rsp[0] = kstack_top;
  tss.ist[0] = ist1_top;
  tss.iomap = sizeof tss;
#else
  (void)ist1_top;
  tss.esp0 = kstack_top;
  tss.ss0 = SEL_KDATA;
  tss.iomap = sizeof tss;
#endif
  /* available TSS (type 9), present, DPL 0, byte granularity */
  uint64_t desc = (limit & 0xFFFF) | ((uint64_t)(base & 0xFFFFFF) << 16) | ((uint64_t)0x89 << 40) |
                  ((uint64_t)((limit >> 16) & 0xF) << 48) | ((uint64_t)((base >> 24) & 0xFF) << 56);
  gdt[SEL_TSS / 8] = desc;
#ifdef __x86_64__
  gdt[SEL_TSS / 8 + 1] = (uint64_t)base >> 32;
#endif
  __asm__ volatile("ltr %w0" ::"r"((uint16_t)SEL_TSS));
}
