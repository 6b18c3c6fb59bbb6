/**
 * Runs snippet cases under emu with the same initial state the native harness uses
 * (tests/native/snippet-harness.c): 64-bit, 32-bit compatibility or 16-bit mode, CPL 3, code page at SNIPPET_CODE_BASE,
 * data page at SNIPPET_DATA_BASE, every GPR and the status flags + DF from the case.
 *
 * The machine is a tiny long-mode system built once: identity-mapped 4 KiB pages for the
 * code page (user, RWX), the data page (user, RW, NX) and a zero read-only page (user, NX);
 * the supervisor pages (GDT, IDT, TSS, LDT, exception stubs, exception stack) are mapped
 * above 4 GiB (SYS_LIN + physical), out of reach of 32/16-bit addresses. Everything else is
 * not present, as in the host process, so a stray access faults with the same #PF in both.
 *
 * The snippet is followed by HLT: at CPL 3 it raises #GP(0) at exactly the end of the
 * snippet, which is how a normal completion is recognised. Every IDT vector points at
 * its own supervisor stub (a HLT), so the vector is known from where the CPU halted, and
 * the user RSP/RFLAGS/RIP and error code are read back from the exception frame on the
 * TSS.RSP0 stack (SDM Vol. 3 §6.14.2, 64-bit interrupt stack frame).
 */
import { Bus } from '../../bus.js';
import { EVENT_HALTED, REG, RegSet, regId, SEG_ATTR_UNUSABLE, segReg, type RegId, type RegisterBatch } from '../../registers.js';
import { GuestMemory } from '../../../memory/guest-memory.js';
import { CodeCache } from '../code-cache.js';
import { EmuCpu } from '../cpu.js';
import {
  FLAGS_INPUT, SNIPPET_RO_BASE, SNIPPET_CODE_BASE, SNIPPET_DATA_BASE, SNIPPET_DATA_SIZE, SNIPPET_PAGE_SIZE, VECTOR_NONE, VECTOR_TIMEOUT,
  type SnippetCase, type SnippetResult,
} from './snippet-case.js';

const RAM_SIZE = 4 * 1024 * 1024;
const PML4 = 0x1000;
const PDPT = 0x2000;
const PD = 0x3000;
const PT0 = 0x4000; // 0..2 MiB
const PT1 = 0x5000; // 2..4 MiB
const GDT = 0x6000;
const IDT = 0x7000;
const TSS = 0x8000;
const STUBS = 0x9000; // 256 stubs of 16 bytes: 0x9000..0x9fff
const STUB_SIZE = 16;
const EXC_STACK_TOP = 0xc000; // TSS.RSP0; stack pages 0xa000..0xbfff
const LDT = 0xc000; // two descriptors
const SYS_END = 0xd000;
const PD_SYS = 0xd000; // maps SYS_LIN .. SYS_LIN + 2 MiB
const PT_SYS = 0xe000;
/** Linear address of the system pages: physical + 4 GiB. */
const SYS_LIN = 0x1_0000_0000;
const SYS_LIN_HI = 1; // SYS_LIN >> 32
/**
 * Where the exception stack (physical 0xa000..0xbfff) is mapped by default: just below
 * 2 GiB, beyond anything a generated case addresses. (Above 4 GiB is the `exceptionStackAbove4G`
 * option: architecturally the same, it checks that delivery from 32/16-bit code uses all 64
 * bits of TSS.RSP0.)
 */
const EXC_STACK_LIN = 0x7fff_c000;
const PD_STK = 0xf000;
const PT_STK = 0x10000;

const PTE_P = 1;
const PTE_RW = 2;
const PTE_US = 4;
/** NX is bit 63: bit 31 of the high dword. */
const PTE_NX_HI = 0x8000_0000;

/*
 * Selectors are those of a Linux x86-64 process (the native side), so instructions that
 * read or load segment registers see the same values: GDT 1-3 kernel (DPL 0), 4 user code
 * 32-bit (0x23), 5 user data (0x2b), 6 user code 64-bit (0x33), 7 empty, 8-9 TSS, 10-11 LDT,
 * 12-14 empty TLS slots, 15 a DPL-3 data segment (Linux's CPU/node segment); the LDT holds
 * the harness's 16-bit code (0x07) and data (0x0f) segments.
 */
const SEL_KCODE = 0x10;
const SEL_UCODE32 = 0x20 | 3;
const SEL_UDATA = 0x28 | 3;
const SEL_UCODE = 0x30 | 3;
const SEL_TSS = 0x40;
const SEL_LDT = 0x50;
const SEL_UCODE16 = 0x00 | 4 | 3;
const SEL_UDATA16 = 0x08 | 4 | 3;
const GDT_LIMIT = 16 * 8 - 1;
const LDT_LIMIT = 2 * 8 - 1;
/** VMX access-rights layout (registers.ts): type | S<<4 | DPL<<5 | P<<7 | AVL<<12 | L<<13 | D<<14 | G<<15. */
const ATTR_UCODE64 = 0xb | 0x10 | (3 << 5) | 0x80 | (1 << 13) | (1 << 15);
const ATTR_UCODE32 = 0xb | 0x10 | (3 << 5) | 0x80 | (1 << 14) | (1 << 15);
const ATTR_UCODE16 = 0xb | 0x10 | (3 << 5) | 0x80 | (1 << 12);
const ATTR_UDATA16 = 0x3 | 0x10 | (3 << 5) | 0x80 | (1 << 12);
const ATTR_UDATA = 0x3 | 0x10 | (3 << 5) | 0x80 | (1 << 14) | (1 << 15);
const ATTR_TSS64_BUSY = 0xb | 0x80;
const ATTR_LDT = 0x2 | 0x80;

/** Vectors whose exception frame carries an error code (SDM Vol. 3 Table 6-1). */
const HAS_ERROR_CODE = new Set([8, 10, 11, 12, 13, 14, 17, 21, 29, 30]);
const RFLAGS_IF = 0x200;
const VEC_GP = 13;
/** Reported when emu stopped somewhere unexpected (not at a stub): a harness-level failure. */
export const VECTOR_EMU_STOPPED = -3;

export class EmuSnippetRunner {
  readonly memory: GuestMemory;
  readonly cpu: EmuCpu;
  readonly cache = new CodeCache();
  private readonly ram: Uint8Array;
  private readonly dv: DataView;

  constructor(opts: { exceptionStackAbove4G?: boolean } = {}) {
    this.ram = new Uint8Array(RAM_SIZE);
    this.dv = new DataView(this.ram.buffer);
    this.memory = new GuestMemory([{ name: 'ram', gpa: 0, size: RAM_SIZE, bytes: this.ram }]);
    this.buildSystem(opts.exceptionStackAbove4G ?? false);
    this.cpu = new EmuCpu({ memory: this.memory, pio: new Bus('pio'), mmio: new Bus('mmio'), cache: this.cache });
    this.cpu.setLong64(PML4);
    const batch: RegisterBatch = [
      [REG.gdtrBase, BigInt(SYS_LIN + GDT)],
      [REG.gdtrLimit, BigInt(GDT_LIMIT)],
      [REG.idtrBase, BigInt(SYS_LIN + IDT)],
      [REG.idtrLimit, 0xfffn],
      [segReg('tr', 'selector'), BigInt(SEL_TSS)],
      [segReg('tr', 'base'), BigInt(SYS_LIN + TSS)],
      [segReg('tr', 'limit'), 0x67n],
      [segReg('tr', 'attrs'), BigInt(ATTR_TSS64_BUSY)],
      [segReg('ldtr', 'selector'), BigInt(SEL_LDT)],
      [segReg('ldtr', 'base'), BigInt(SYS_LIN + LDT)],
      [segReg('ldtr', 'limit'), BigInt(LDT_LIMIT)],
      [segReg('ldtr', 'attrs'), BigInt(ATTR_LDT)],
    ];
    this.cpu.setRegisters(batch);
  }

  private w64(addr: number, lo: number, hi: number): void {
    this.dv.setUint32(addr, lo >>> 0, true);
    this.dv.setUint32(addr + 4, hi >>> 0, true);
  }

  private buildSystem(stackAbove4G: boolean): void {
    // Paging: PML4[0] -> PDPT[0] -> PD[0..1] -> PT0/PT1 (4 KiB pages only) for the user pages,
    // PDPT[4] -> PD_SYS[0] -> PT_SYS for the supervisor pages at SYS_LIN.
    this.w64(PML4, PDPT | PTE_P | PTE_RW | PTE_US, 0);
    this.w64(PDPT, PD | PTE_P | PTE_RW | PTE_US, 0);
    this.w64(PD, PT0 | PTE_P | PTE_RW | PTE_US, 0);
    this.w64(PD + 8, PT1 | PTE_P | PTE_RW | PTE_US, 0);
    this.w64(PDPT + 4 * 8, PD_SYS | PTE_P | PTE_RW, 0);
    this.w64(PD_SYS, PT_SYS | PTE_P | PTE_RW, 0);
    for (let pa = PML4; pa < SYS_END; pa += SNIPPET_PAGE_SIZE) this.w64(PT_SYS + (pa >> 12) * 8, pa | PTE_P | PTE_RW, 0);
    // The exception stack also at EXC_STACK_LIN (PDPT[1] -> PD_STK[511] -> PT_STK).
    this.w64(PDPT + 1 * 8, PD_STK | PTE_P | PTE_RW, 0);
    this.w64(PD_STK + ((EXC_STACK_LIN >>> 21) & 511) * 8, PT_STK | PTE_P | PTE_RW, 0);
    for (let k = 1; k <= 2; k++) {
      this.w64(PT_STK + (((EXC_STACK_LIN - k * SNIPPET_PAGE_SIZE) >>> 12) & 511) * 8, (EXC_STACK_TOP - k * SNIPPET_PAGE_SIZE) | PTE_P | PTE_RW, 0);
    }
    this.w64(PT0 + (SNIPPET_DATA_BASE >> 12) * 8, SNIPPET_DATA_BASE | PTE_P | PTE_RW | PTE_US, PTE_NX_HI);
    this.w64(PT1 + ((SNIPPET_CODE_BASE - 0x200000) >> 12) * 8, SNIPPET_CODE_BASE | PTE_P | PTE_RW | PTE_US, 0);
    this.w64(PT0 + (SNIPPET_RO_BASE >> 12) * 8, SNIPPET_RO_BASE | PTE_P | PTE_US, PTE_NX_HI); // read-only, stays zero

    // GDT in Linux's layout (see the selector constants).
    this.w64(GDT + 0x08, 0x0000ffff, 0x00cf9b00); // kernel code 32-bit
    this.w64(GDT + 0x10, 0x0000ffff, 0x00af9b00); // kernel code 64-bit
    this.w64(GDT + 0x18, 0x0000ffff, 0x00cf9300); // kernel data
    this.w64(GDT + 0x20, 0x0000ffff, 0x00cffb00); // user code 32-bit (0x23)
    this.w64(GDT + 0x28, 0x0000ffff, 0x00cff300); // user data (0x2b)
    this.w64(GDT + 0x30, 0x0000ffff, 0x00affb00); // user code 64-bit (0x33)
    // 16-byte system descriptors: base bits 32-63 in the second quadword.
    this.w64(GDT + 0x40, ((TSS & 0xffff) << 16) | 0x67, ((TSS >>> 16) & 0xff) | 0x8b00 | (TSS & 0xff000000));
    this.w64(GDT + 0x48, SYS_LIN_HI, 0);
    this.w64(GDT + 0x50, ((LDT & 0xffff) << 16) | LDT_LIMIT, ((LDT >>> 16) & 0xff) | 0x8200 | (LDT & 0xff000000));
    this.w64(GDT + 0x58, SYS_LIN_HI, 0);
    this.w64(GDT + 0x78, 0x00000000, 0x0040f300); // DPL-3 data, limit 0 (Linux's CPU/node segment on CPU 0)
    // LDT: 16-bit user code at SNIPPET_CODE_BASE and data at SNIPPET_DATA_BASE, limit 0xffff, accessed + AVL
    // (what modify_ldt installs natively).
    this.w64(LDT + 0x00, ((SNIPPET_CODE_BASE & 0xffff) << 16) | 0xffff, ((SNIPPET_CODE_BASE >>> 16) & 0xff) | 0x10fb00);
    this.w64(LDT + 0x08, ((SNIPPET_DATA_BASE & 0xffff) << 16) | 0xffff, ((SNIPPET_DATA_BASE >>> 16) & 0xff) | 0x10f300);

    // TSS: RSP0 at offset 4; the I/O map base (offset 0x66) past the limit: no port is
    // accessible at CPL 3 (as in a Linux process without ioperm).
    if (stackAbove4G) this.w64(TSS + 4, EXC_STACK_TOP, SYS_LIN_HI);
    else this.w64(TSS + 4, EXC_STACK_LIN, 0);
    this.dv.setUint16(TSS + 0x66, 0x68, true);

    // IDT: 64-bit interrupt gates to per-vector HLT stubs; #BP and #OF are DPL 3 (INT3/INTO from user), as on Linux.
    for (let v = 0; v < 256; v++) {
      const target = STUBS + v * STUB_SIZE;
      const dpl = v === 3 || v === 4 ? 3 : 0;
      const e = IDT + v * 16;
      this.dv.setUint32(e, (SEL_KCODE << 16) | (target & 0xffff), true);
      this.dv.setUint32(e + 4, (target & 0xffff0000) | 0x8e00 | (dpl << 13), true);
      this.w64(e + 8, SYS_LIN_HI, 0); // offset bits 32-63
      this.ram[target] = 0xf4; // hlt
      this.ram[target + 1] = 0xeb; // jmp $-3 (back to hlt) should anything wake it
      this.ram[target + 2] = 0xfd;
    }
  }

  /** Runs one case; `budget` bounds the instructions (a loop that never ends reports VECTOR_TIMEOUT). */
  run(c: SnippetCase, budget = 100_000): SnippetResult {
    const cpu = this.cpu;
    // Code page: snippet, then HLT (#GP at CPL 3 marks the end); drop decoded blocks of the old snippet.
    const code = this.ram.subarray(SNIPPET_CODE_BASE, SNIPPET_CODE_BASE + SNIPPET_PAGE_SIZE);
    code.fill(0xcc);
    code.set(c.code, 0);
    code[c.code.length] = 0xf4;
    this.cache.invalidatePage(SNIPPET_CODE_BASE, cpu);
    const data = this.ram.subarray(SNIPPET_DATA_BASE, SNIPPET_DATA_BASE + SNIPPET_PAGE_SIZE);
    data.fill(0);
    data.set(c.data, 0);
    this.ram.fill(0, EXC_STACK_TOP - 64, EXC_STACK_TOP);

    for (let i = 0; i < 16; i++) cpu.setGpr(i, c.gpr[i] ?? 0n);
    const compat = c.mode === 32;
    const m16 = c.mode === 16;
    // As the native harness leaves them: 64-bit DS=ES=0, 32-bit DS=ES=SS=0x2b, 16-bit DS=ES=SS=0x0f;
    // FS=GS=0 always; SS=0x2b in 64-bit mode.
    const user = (seg: 'ds' | 'es' | 'ss' | 'fs' | 'gs', on: boolean): [RegId, bigint][] =>
      m16 && on
        ? [
            [segReg(seg, 'selector'), BigInt(SEL_UDATA16)],
            [segReg(seg, 'base'), BigInt(SNIPPET_DATA_BASE)],
            [segReg(seg, 'limit'), 0xffffn],
            [segReg(seg, 'attrs'), BigInt(ATTR_UDATA16)],
          ]
        : on
          ? [
              [segReg(seg, 'selector'), BigInt(SEL_UDATA)],
              [segReg(seg, 'base'), 0n],
              [segReg(seg, 'limit'), 0xffffffffn],
              [segReg(seg, 'attrs'), BigInt(ATTR_UDATA)],
            ]
          : [
              [segReg(seg, 'selector'), 0n],
              [segReg(seg, 'base'), 0n],
              [segReg(seg, 'limit'), 0n],
              [segReg(seg, 'attrs'), BigInt(SEG_ATTR_UNUSABLE)],
            ];
    cpu.setRegisters([
      [segReg('cs', 'selector'), BigInt(m16 ? SEL_UCODE16 : compat ? SEL_UCODE32 : SEL_UCODE)],
      [segReg('cs', 'base'), BigInt(m16 ? SNIPPET_CODE_BASE : 0)],
      [segReg('cs', 'limit'), m16 ? 0xffffn : 0xffffffffn],
      [segReg('cs', 'attrs'), BigInt(m16 ? ATTR_UCODE16 : compat ? ATTR_UCODE32 : ATTR_UCODE64)],
      ...user('ss', true),
      ...user('ds', compat || m16),
      ...user('es', compat || m16),
      ...user('fs', false),
      ...user('gs', false),
      [REG.rip, BigInt(m16 ? 0 : SNIPPET_CODE_BASE)],
      [REG.rflags, BigInt((c.rflags & FLAGS_INPUT) | RFLAGS_IF | 2)],
      [REG.cr2, 0n],
      [regId(RegSet.EVENT, EVENT_HALTED), 0n],
    ]);
    const why = cpu.run(budget);

    const gpr = new BigUint64Array(16);
    for (let i = 0; i < 16; i++) gpr[i] = cpu.getGpr(i);
    const out: SnippetResult = {
      vector: VECTOR_NONE,
      errorCode: 0,
      gpr,
      rflags: cpu.getRflags(),
      rip: cpu.getRip(), // (linear for 64/32-bit: CS base 0)
      faultAddr: 0n,
      data: this.ram.slice(SNIPPET_DATA_BASE, SNIPPET_DATA_BASE + SNIPPET_DATA_SIZE),
    };
    const rip = Number(out.rip) - SYS_LIN;
    const atStub = rip > STUBS && rip <= STUBS + 256 * STUB_SIZE && (rip - STUBS - 1) % STUB_SIZE === 0;
    if (why === 'budget' && !atStub) {
      out.vector = VECTOR_TIMEOUT;
      return out;
    }
    if (!atStub) {
      out.vector = VECTOR_EMU_STOPPED;
      return out;
    }
    const vector = (rip - STUBS - 1) / STUB_SIZE;
    const frame = HAS_ERROR_CODE.has(vector) ? EXC_STACK_TOP - 48 : EXC_STACK_TOP - 40;
    const errorCode = HAS_ERROR_CODE.has(vector) ? this.dv.getUint32(frame, true) : 0;
    const ripOff = HAS_ERROR_CODE.has(vector) ? frame + 8 : frame;
    // A linear RIP: add the base of the CS the fault happened in (the 16-bit one is based at the code page).
    const faultCs = this.dv.getUint16(ripOff + 8, true);
    out.rip = this.dv.getBigUint64(ripOff, true) + BigInt(faultCs === SEL_UCODE16 ? SNIPPET_CODE_BASE : 0);
    out.rflags = this.dv.getUint32(ripOff + 16, true);
    gpr[4] = this.dv.getBigUint64(ripOff + 24, true);
    const end = BigInt(SNIPPET_CODE_BASE + c.code.length);
    if (vector === VEC_GP && errorCode === 0 && out.rip === end) return out; // the trailing HLT: normal end
    out.vector = vector;
    out.errorCode = errorCode;
    if (vector === 14) out.faultAddr = cpu.getRegisters([REG.cr2])[0] ?? 0n;
    return out;
  }
}
