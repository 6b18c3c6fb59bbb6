import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEmuVm, type EmuVm } from './emu-vm.js';
import type { EmuCpu } from './cpu.js';
import { writeCr4 } from './control-regs.js';
import { cpuid, writeMsr } from './msr.js';
import { rd32 } from './mem-access.js';
import { load } from './cpu-harness.test-util.js';
import { CR4_DE, CR4_IMPLEMENTED, CR4_LA57, CR4_MCE, CR4_OSFXSR, CR4_OSXMMEXCPT, CR4_OSXSAVE, CR4_PAE, CR4_PCIDE, CR4_PGE, CR4_PSE, CR4_TSD, EFER_IMPLEMENTED, EFER_LMA, EFER_LME, EFER_NXE, EFER_SCE, FAULT, VEC_GP, VEC_PF, VEC_UD } from './x86-defs.js';
import { MSR } from '../registers.js';
import { canonicalCpuid, type CpuidValue } from '../../features/cpuid-table.js';
import { EMU_CPU_FEATURES } from '../../features/emu-cpu-model.js';
import { setLogSink } from '../../util/log.js';

type Entry = { -readonly [K in keyof CpuidValue]: CpuidValue[K] };

/** An emu VM given a CPU model: its own CPUID less the named features, edited further by `edit`. */
function vmHiding(names: readonly string[], edit?: (t: Entry[]) => void, la57 = false): EmuVm {
  const vm = createEmuVm({ memBytes: 16 << 20, cpus: 1, deterministic: true, ...(la57 ? { la57: true } : {}) });
  const t: Entry[] = canonicalCpuid(vm.cpuidTable(0));
  for (const n of names) {
    const f = EMU_CPU_FEATURES.find((x) => x.name === n);
    assert.ok(f, n);
    const e = t.find((v) => v.leaf === f.leaf && v.subleaf === f.subleaf)!;
    e[f.reg] = (e[f.reg] & ~(1 << f.bit)) >>> 0;
  }
  edit?.(t);
  vm.setCpuidTable(t);
  return vm;
}

function cpu0(vm: EmuVm): EmuCpu {
  return vm.vcpus[0]!;
}

/** 64-bit mode at CPL 0 with CR3 = 0x10000 (PCID 0); no page tables: nothing here walks. */
function long64(c: EmuCpu): EmuCpu {
  c.setLong64(0x10000);
  return c;
}

/** The vector MOV to CR4 of `v` raises, or undefined. */
function cr4Fault(c: EmuCpu, v: number): number | undefined {
  try {
    writeCr4(c, v);
    return undefined;
  } catch (e) {
    assert.equal(e, FAULT);
    return c.excVec;
  }
}

/** Runs `code` at 0x1000 in flat 32-bit mode (no IDT: a fault ends in a triple fault); the first exception's vector. */
function firstException(c: EmuCpu, mem: EmuVm['memory'], code: string, setup?: (c: EmuCpu) => void): number | undefined {
  load(mem, 0x1000, code);
  c.setFlat32();
  c.idtLimit = 0;
  c.gpr[2 * 4] = 0x8000;
  c.rip = 0x1000;
  setup?.(c);
  c.exceptionLog.length = 0;
  c.run(50);
  return c.exceptionLog[0]?.vector;
}

test('without a CPU model, or with one that hides nothing, the vCPU offers what emu implements', () => {
  for (const vm of [createEmuVm({ memBytes: 16 << 20, cpus: 1 }), vmHiding([])]) {
    const c = cpu0(vm);
    assert.equal(c.cr4Writable, CR4_IMPLEMENTED);
    assert.equal(c.cr4Writable, 0x7ff | CR4_PCIDE | CR4_OSXSAVE);
    assert.equal(c.eferWritable, EFER_IMPLEMENTED);
    assert.equal(c.xcr0Writable, 3);
    assert.equal(c.gbPages, true);
    assert.equal(c.dispatch, null, 'the shared dispatch arrays of emu\'s own model');
    assert.equal(cr4Fault(long64(c), CR4_PAE | CR4_PGE | CR4_PCIDE | CR4_OSXSAVE | CR4_OSFXSR | CR4_OSXMMEXCPT), undefined);
    vm.destroy();
  }
});

test('a model hiding PCID: MOV to CR4 setting PCIDE is #GP; INVPCID hidden: #UD', () => {
  const vm = vmHiding(['pcid', 'invpcid']);
  const c = long64(cpu0(vm));
  assert.equal(cr4Fault(c, CR4_PAE | CR4_PCIDE), VEC_GP);
  assert.equal(cr4Fault(c, CR4_PAE | CR4_PGE), undefined);
  // INVPCID rax, [rax] in 64-bit mode through the run loop's decoder (identity map of the first 2 MiB).
  vm.memory.writeU32(0x10000, 0x11000 | 3);
  vm.memory.writeU32(0x11000, 0x12000 | 3);
  vm.memory.writeU32(0x12000, 0x83);
  load(vm.memory, 0x1000, '66 0f 38 82 00 f4');
  c.rip = 0x1000;
  c.gpr[2 * 0] = 0x2000;
  c.idtLimit = 0;
  quiet(() => c.run(10));
  assert.equal(c.exceptionLog[0]?.vector, VEC_UD);
  assert.deepEqual([...c.unimplementedCounts.keys()], ['INVPCID (CPUID feature invpcid not advertised)']);
  vm.destroy();
});

test('a model hiding XSAVE: CR4.OSXSAVE is #GP and XSETBV #UD; CPUID leaf 0xD subleaf 0 bounds XCR0', () => {
  const vm = vmHiding(['xsave', 'xsaveopt']);
  const c = cpu0(vm);
  c.setFlat32();
  assert.equal(cr4Fault(c, CR4_OSXSAVE), VEC_GP);
  // XSETBV with EAX = 3 (x87, SSE), EDX = ECX = 0.
  const xsetbv = 'b8 03000000 31 d2 31 c9 0f 01 d1 f4';
  assert.equal(quiet(() => firstException(c, vm.memory, xsetbv)), VEC_UD);
  vm.destroy();

  // A model whose leaf 0xD reports x87 state only: XCR0 may be 1, not 3.
  const x87 = vmHiding([], (t) => {
    t.find((v) => v.leaf === 0xd && v.subleaf === 0)!.eax = 1;
  });
  const d = cpu0(x87);
  const withOsxsave = (k: EmuCpu): void => {
    k.cr4 |= CR4_OSXSAVE | CR4_OSFXSR;
  };
  assert.equal(firstException(d, x87.memory, xsetbv, withOsxsave), VEC_GP);
  assert.equal(firstException(d, x87.memory, 'b8 01000000 31 d2 31 c9 0f 01 d1 f4', withOsxsave), undefined);
  assert.equal(d.xcr0, 1);
  x87.destroy();
  // Emu's own model takes 3.
  const own = createEmuVm({ memBytes: 16 << 20, cpus: 1 });
  const o = cpu0(own);
  assert.equal(firstException(o, own.memory, xsetbv, withOsxsave), undefined);
  assert.equal(o.xcr0, 3);
  own.destroy();
});

test('a model hiding NX or LM: WRMSR of EFER.NXE or EFER.LME is #GP; SCE stays writable', () => {
  const nx = cpu0(vmHiding(['nx']));
  nx.setFlat32();
  assert.equal(writeMsr(nx, MSR.IA32_EFER, EFER_NXE, 0), false);
  assert.equal(writeMsr(nx, MSR.IA32_EFER, EFER_LME | EFER_SCE, 0), true);
  // Through the instruction: WRMSR with ECX = EFER, EAX = NXE.
  const vm = vmHiding(['nx']);
  assert.equal(firstException(cpu0(vm), vm.memory, 'b9 800000c0 b8 00080000 31 d2 0f 30 f4'), VEC_GP);
  const lm = cpu0(vmHiding(['lm', 'lahf-lm']));
  lm.setFlat32();
  assert.equal(writeMsr(lm, MSR.IA32_EFER, EFER_LME, 0), false);
  assert.equal(writeMsr(lm, MSR.IA32_EFER, EFER_LMA, 0), false);
  assert.equal(writeMsr(lm, MSR.IA32_EFER, EFER_NXE | EFER_SCE, 0), true);
});

test('each CR4 bit of a feature the model hides is #GP, and only that bit', () => {
  const cases: [string, number][] = [
    ['tsc', CR4_TSD],
    ['de', CR4_DE],
    ['pse', CR4_PSE],
    ['pae', CR4_PAE],
    ['mce', CR4_MCE],
    ['pge', CR4_PGE],
    ['fxsr', CR4_OSFXSR],
    ['sse', CR4_OSXMMEXCPT],
  ];
  for (const [name, bit] of cases) {
    const c = cpu0(vmHiding([name]));
    c.setFlat32();
    assert.equal(cr4Fault(c, bit), VEC_GP, name);
    assert.equal(cr4Fault(c, 0x7ff & ~bit), undefined, `${name}: the other bits`);
  }
});

test('a model without LA57 on a VM that offers it: CR4.LA57 is #GP and CPUID shows no LA57', () => {
  const c = cpu0(vmHiding([], (t) => {
    const e = t.find((v) => v.leaf === 7 && v.subleaf === 0)!;
    e.ecx = (e.ecx & ~(1 << 16)) >>> 0;
  }, true));
  c.setFlat32();
  assert.equal(c.la57, false);
  assert.equal(cr4Fault(c, CR4_LA57), VEC_GP);
  c.gpr[2 * 0] = 7;
  c.gpr[2 * 1] = 0;
  cpuid(c);
  assert.equal(c.gpr[2 * 1]! & (1 << 16), 0);
  const kept = cpu0(vmHiding([], undefined, true));
  kept.setFlat32();
  assert.equal(cr4Fault(kept, CR4_LA57), undefined);
});

test('a model without 1 GiB pages: a PDPTE with PS set is a reserved-bit #PF', () => {
  for (const hide of [false, true]) {
    const vm = vmHiding(hide ? ['pdpe1gb'] : []);
    const c = long64(cpu0(vm));
    vm.memory.writeU32(0x10000, 0x11000 | 3);
    vm.memory.writeU32(0x11000, 0x83); // 1 GiB page at 0
    vm.memory.writeU32(0x5000, 0x1234);
    let fault: { vec: number; code: number } | undefined;
    try {
      assert.equal(rd32(c, 0x5000), 0x1234);
    } catch (e) {
      assert.equal(e, FAULT);
      fault = { vec: c.excVec, code: c.excCode };
    }
    assert.deepEqual(fault, hide ? { vec: VEC_PF, code: 0x9 } : undefined, `hidden ${hide}`);
    vm.destroy();
  }
});

test('instructions of a hidden feature are #UD through the run loop: POPCNT, RDTSCP; the rest still run', () => {
  const vm = vmHiding(['popcnt', 'rdtscp']);
  const c = cpu0(vm);
  assert.equal(quiet(() => firstException(c, vm.memory, 'f3 0f b8 c1 f4')), VEC_UD);
  assert.equal(quiet(() => firstException(c, vm.memory, '0f 01 f9 f4')), VEC_UD);
  assert.equal(firstException(c, vm.memory, 'f3 0f bd c1 0f 31 f4'), undefined, 'LZCNT and RDTSC');
  vm.destroy();
});

test('a model without x2APIC or TSC-deadline: IA32_APIC_BASE.EXTD is #GP, the LVT timer keeps no TSC-deadline mode', () => {
  for (const hide of [false, true]) {
    const c = cpu0(vmHiding(hide ? ['x2apic', 'tsc-deadline'] : []));
    c.setFlat32();
    const apic = c.apic!;
    apic.mmioWrite(0x0f0, 4, 0x1ff); // software-enabled
    apic.mmioWrite(0x320, 4, (2 << 17) | 0x40); // LVT timer: TSC-deadline mode, vector 0x40
    assert.equal(apic.mmioRead(0x320, 4) >>> 17, hide ? 0 : 2, `hidden ${hide}: timer mode`);
    assert.equal(writeMsr(c, MSR.IA32_APIC_BASE, 0xfee00000 | (1 << 8) | (1 << 11) | (1 << 10), 0), !hide, `hidden ${hide}: x2APIC enable`);
  }
});

function quiet<T>(f: () => T): T {
  setLogSink(() => {});
  try {
    return f();
  } finally {
    setLogSink((line) => globalThis.console.error(line));
  }
}
