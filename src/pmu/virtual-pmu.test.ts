import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualPmu, CycleKind, NO_OVERFLOW_LIMIT } from './virtual-pmu.js';
import { resolvePmuConfig, type PmuConfigInput } from './pmu-config.js';
import { createPmuEventFilter, type PmuEventFilter } from './event-filter.js';

const PMC0 = 0xc1, A_PMC0 = 0x4c1, EVTSEL0 = 0x186, FIXED0 = 0x309;
const PERF_CAP = 0x345, FIXED_CTRL = 0x38d, STATUS = 0x38e, GCTRL = 0x38f, OVF = 0x390, SET = 0x391, INUSE = 0x392;
const USR = 1n << 16n, OS = 1n << 17n, EDGE = 1n << 18n, PC = 1n << 19n, INT = 1n << 20n, ANY = 1n << 21n, EN = 1n << 22n, INV = 1n << 23n;
const cmask = (n: number): bigint => BigInt(n) << 24n;
const sel = (event: number, umask: number, flags: bigint): bigint => BigInt(event) | (BigInt(umask) << 8n) | flags;
const INST = sel(0xc0, 0, 0n), CYC = sel(0x3c, 0, 0n), REF = sel(0x3c, 1, 0n), BR = sel(0xc4, 0, 0n);
const M48 = (1n << 48n) - 1n;
const { PLAIN, BRANCH, STALL } = CycleKind;

/** A PMU whose reference clock is `clock.t` (the vCPU is running from tick 0 at CPL 0). */
function mk(cfg: PmuConfigInput = {}, filter: PmuEventFilter | null = null): { pmu: VirtualPmu; pmis: { n: number }; clock: { t: number } } {
  const pmis = { n: 0 };
  const clock = { t: 0 };
  const pmu = new VirtualPmu(resolvePmuConfig(cfg), { onPmi: () => pmis.n++, filter, refClock: () => clock.t });
  pmu.runStart();
  return { pmu, pmis, clock };
}
const out = { lo: 0, hi: 0 };
function rd(p: VirtualPmu, index: number): bigint | null {
  out.lo = -1;
  out.hi = -1;
  if (!p.readMsr(index, out)) return null;
  assert.ok(out.lo >= 0 && out.lo <= 0xffff_ffff && out.hi >= 0 && out.hi <= 0xffff_ffff, 'halves are unsigned 32-bit');
  return (BigInt(out.hi) << 32n) | BigInt(out.lo);
}
function wr(p: VirtualPmu, index: number, v: bigint): boolean {
  return p.writeMsr(index, Number(v & 0xffff_ffffn), Number((v >> 32n) & 0xffff_ffffn));
}
function ok(p: VirtualPmu, index: number, v: bigint): void {
  assert.equal(wr(p, index, v), true, `wrmsr 0x${index.toString(16)} = 0x${v.toString(16)} should succeed`);
}
function gp(p: VirtualPmu, index: number, v: bigint): void {
  assert.equal(wr(p, index, v), false, `wrmsr 0x${index.toString(16)} = 0x${v.toString(16)} should #GP`);
}

test('isPmuMsr claims every architectural PMU MSR and nothing around them', () => {
  const { pmu } = mk({ version: 0 });
  for (const i of [0xc1, 0xc8, 0x4c1, 0x4c8, 0x186, 0x18d, 0x309, 0x30c, 0x345, 0x38d, 0x38e, 0x38f, 0x390, 0x391, 0x392]) assert.ok(pmu.isPmuMsr(i), i.toString(16));
  for (const i of [0xc0, 0xc9, 0x4c0, 0x4c9, 0x185, 0x18e, 0x308, 0x30d, 0x344, 0x38c, 0x393, 0x10, 0x1d9]) assert.ok(!pmu.isPmuMsr(i), i.toString(16));
});

test('version 0: every PMU MSR and RDPMC #GP', () => {
  const { pmu } = mk({ version: 0 });
  for (const i of [PMC0, A_PMC0, EVTSEL0, FIXED0, PERF_CAP, FIXED_CTRL, STATUS, GCTRL, OVF, SET, INUSE]) {
    assert.equal(rd(pmu, i), null);
    gp(pmu, i, 0n);
  }
  assert.equal(pmu.rdpmc(0, 0, false, out), false);
});

test('version 1: PMCs, event selects and PERF_CAPABILITIES only; no fixed counters or global MSRs', () => {
  const { pmu } = mk({ version: 1, gpCounters: 2 });
  assert.equal(rd(pmu, PMC0), 0n);
  assert.equal(rd(pmu, PMC0 + 1), 0n);
  assert.equal(rd(pmu, PMC0 + 2), null, 'only 2 counters');
  assert.equal(rd(pmu, EVTSEL0 + 2), null);
  gp(pmu, EVTSEL0 + 2, 0n);
  assert.equal(rd(pmu, PERF_CAP), 1n << 13n);
  for (const i of [FIXED0, FIXED_CTRL, STATUS, GCTRL, OVF, SET, INUSE]) {
    assert.equal(rd(pmu, i), null, i.toString(16));
    gp(pmu, i, 0n);
  }
  assert.equal(pmu.rdpmc(0x4000_0000, 0, false, out), false, 'no fixed counters in v1');
  gp(pmu, EVTSEL0, ANY); // AnyThread is version 3+
});

test('version 1 counts with EN alone (no GLOBAL_CTRL)', () => {
  const { pmu } = mk({ version: 1, gpCounters: 2 });
  ok(pmu, EVTSEL0, INST | EN | OS | USR);
  pmu.count(PLAIN, 5, 0);
  pmu.count(BRANCH, 2, 3);
  assert.equal(rd(pmu, PMC0), 7n);
});

test('version 2: fixed counters and GLOBAL_CTRL/STATUS/OVF_CTRL exist; STATUS_SET and INUSE do not', () => {
  const { pmu } = mk({ version: 2, gpCounters: 4 });
  assert.equal(rd(pmu, GCTRL), 0xfn, 'GP enables set at reset');
  assert.equal(rd(pmu, STATUS), 0n);
  assert.equal(rd(pmu, OVF), 0n);
  assert.equal(rd(pmu, FIXED_CTRL), 0n);
  assert.equal(rd(pmu, FIXED0 + 2), 0n);
  assert.equal(rd(pmu, FIXED0 + 3), null, 'fixed counter 3 (topdown slots) not implemented');
  assert.equal(rd(pmu, SET), null);
  gp(pmu, SET, 1n);
  assert.equal(rd(pmu, INUSE), null);
  gp(pmu, EVTSEL0, ANY);
  gp(pmu, FIXED_CTRL, 0x4n); // AnyThread nibble bit needs version 3
});

test('IA32_PMCx writes sign-extend EAX bit 31 to the counter width and ignore EDX', () => {
  const { pmu } = mk({ version: 4 });
  ok(pmu, PMC0, 0x8000_0000n);
  assert.equal(rd(pmu, PMC0), 0xffff_8000_0000n);
  ok(pmu, PMC0, 0xffff_ffffn);
  assert.equal(rd(pmu, PMC0), M48);
  ok(pmu, PMC0, 0x7fff_ffffn);
  assert.equal(rd(pmu, PMC0), 0x7fff_ffffn);
  ok(pmu, PMC0 + 1, 0x1234_0000_0005n); // EDX ignored
  assert.equal(rd(pmu, PMC0 + 1), 5n);
  const { pmu: p40 } = mk({ version: 4, counterWidth: 40 });
  ok(p40, PMC0, 0xffff_fff0n);
  assert.equal(rd(p40, PMC0), 0xff_ffff_fff0n);
});

test('full-width writes: IA32_A_PMCx with FW_WRITE, #GP above the width; #GP without FW_WRITE', () => {
  const { pmu } = mk({ version: 4 });
  ok(pmu, A_PMC0 + 7, 0x1234_5678_9abcn);
  assert.equal(rd(pmu, PMC0 + 7), 0x1234_5678_9abcn);
  assert.equal(rd(pmu, A_PMC0 + 7), 0x1234_5678_9abcn);
  ok(pmu, A_PMC0, M48);
  gp(pmu, A_PMC0, 1n << 48n);
  gp(pmu, A_PMC0, 1n << 63n);
  assert.equal(rd(pmu, A_PMC0 + 8), null);
  const { pmu: nofw } = mk({ version: 4, fullWidthWrites: false });
  assert.equal(rd(nofw, PERF_CAP), 0n);
  assert.equal(rd(nofw, A_PMC0), null);
  gp(nofw, A_PMC0, 1n);
});

test('IA32_PERF_CAPABILITIES is read-only', () => {
  const { pmu } = mk();
  gp(pmu, PERF_CAP, 1n << 13n);
  gp(pmu, PERF_CAP, 0n);
});

test('IA32_PERFEVTSELx: every defined field is writable; bits 63:32 and (v<3 or deprecated) AnyThread #GP', () => {
  const { pmu } = mk({ version: 3 });
  const all = 0xffn | (0xffn << 8n) | USR | OS | EDGE | PC | INT | ANY | EN | INV | cmask(0xff);
  ok(pmu, EVTSEL0 + 3, all);
  assert.equal(rd(pmu, EVTSEL0 + 3), 0xffff_ffffn);
  gp(pmu, EVTSEL0, 1n << 32n);
  gp(pmu, EVTSEL0, 1n << 63n);
  const { pmu: v5 } = mk({ version: 5 });
  gp(v5, EVTSEL0, INST | EN | ANY);
  ok(v5, EVTSEL0, INST | EN | OS);
  const { pmu: v5any } = mk({ version: 5, anyThreadDeprecated: false });
  ok(v5any, EVTSEL0, INST | EN | ANY);
});

test('IA32_FIXED_CTR_CTRL: OS/USR/ANY/PMI nibbles for existing counters only', () => {
  const { pmu } = mk({ version: 4 });
  ok(pmu, FIXED_CTRL, 0xfffn);
  assert.equal(rd(pmu, FIXED_CTRL), 0xfffn);
  gp(pmu, FIXED_CTRL, 0x1000n); // counter 3 does not exist
  gp(pmu, FIXED_CTRL, 1n << 32n);
  const { pmu: v5 } = mk({ version: 5 });
  ok(v5, FIXED_CTRL, 0xbbbn);
  gp(v5, FIXED_CTRL, 0x4n); // AnyThread deprecated
  const { pmu: one } = mk({ version: 2, fixedCounters: 1 });
  ok(one, FIXED_CTRL, 0xbn);
  gp(one, FIXED_CTRL, 0x10n);
  assert.equal(rd(one, FIXED0 + 1), null);
});

test('IA32_FIXED_CTRx are full-width writable; bits above the width #GP', () => {
  const { pmu } = mk({ version: 2 });
  ok(pmu, FIXED0 + 1, 0xabcd_0000_0001n);
  assert.equal(rd(pmu, FIXED0 + 1), 0xabcd_0000_0001n);
  gp(pmu, FIXED0, 1n << 48n);
});

test('IA32_PERF_GLOBAL_CTRL: counter enable bits only; STATUS is read-only', () => {
  const { pmu } = mk({ version: 4, gpCounters: 4, fixedCounters: 2 });
  ok(pmu, GCTRL, 0xfn | (0x3n << 32n));
  assert.equal(rd(pmu, GCTRL), 0xfn | (0x3n << 32n));
  gp(pmu, GCTRL, 0x10n);
  gp(pmu, GCTRL, 0x4n << 32n);
  gp(pmu, STATUS, 0n);
  gp(pmu, STATUS, 1n);
});

test('RDPMC: GP and fixed indexes, full width, fast 32-bit reads, #GP rules', () => {
  const { pmu } = mk({ version: 4, gpCounters: 2, fixedCounters: 3 });
  ok(pmu, A_PMC0 + 1, 0x1234_8765_4321n);
  ok(pmu, FIXED0 + 2, 0xabc_0000_0007n);
  assert.equal(pmu.rdpmc(1, 0, false, out), true);
  assert.deepEqual(out, { lo: 0x8765_4321, hi: 0x1234 });
  assert.equal(pmu.rdpmc(0x4000_0002, 0, false, out), true);
  assert.deepEqual(out, { lo: 7, hi: 0xabc });
  assert.equal(pmu.rdpmc(0x8000_0001, 0, false, out), true, 'fast read');
  assert.deepEqual(out, { lo: 0x8765_4321, hi: 0 });
  assert.equal(pmu.rdpmc(0xc000_0002, 0, false, out), true, 'fast read of a fixed counter');
  assert.deepEqual(out, { lo: 7, hi: 0 });
  assert.equal(pmu.rdpmc(2, 0, false, out), false, 'GP index out of range');
  assert.equal(pmu.rdpmc(0x4000_0003, 0, false, out), false, 'fixed index out of range');
  assert.equal(pmu.rdpmc(0x0001_0000, 0, false, out), false, 'unknown type');
  assert.equal(pmu.rdpmc(0x2000_0000, 0, false, out), false, 'performance metrics type not offered');
  assert.equal(pmu.rdpmc(1, 3, false, out), false, 'CPL 3 without CR4.PCE');
  assert.equal(pmu.rdpmc(1, 1, false, out), false, 'CPL 1 without CR4.PCE');
  assert.equal(pmu.rdpmc(1, 3, true, out), true, 'CPL 3 with CR4.PCE');
  const { pmu: nofast } = mk({ version: 4, rdpmcFastRead: false });
  assert.equal(nofast.rdpmc(0x8000_0000, 0, false, out), false, 'ECX[31] is an unknown type without fast reads');
});

test('counting: USR/OS filter by CPL, EN, GLOBAL_CTRL; architectural events from cycle kinds', () => {
  const { pmu, clock } = mk({ version: 4 });
  assert.equal(pmu.active, false);
  ok(pmu, EVTSEL0, INST | EN | OS);
  ok(pmu, EVTSEL0 + 1, INST | EN | USR);
  ok(pmu, EVTSEL0 + 2, BR | EN | OS | USR);
  ok(pmu, EVTSEL0 + 3, CYC | EN | OS | USR);
  ok(pmu, EVTSEL0 + 4, REF | EN | OS | USR);
  ok(pmu, EVTSEL0 + 5, INST | OS | USR); // EN clear
  ok(pmu, EVTSEL0 + 6, sel(0x2e, 0x4f, EN | OS | USR)); // LLC reference: unavailable, counts nothing
  ok(pmu, EVTSEL0 + 7, sel(0xc0, 0x01, EN | OS | USR)); // non-architectural umask: counts nothing
  ok(pmu, FIXED_CTRL, 0x321n); // fixed0 OS, fixed1 USR, fixed2 OS+USR
  ok(pmu, GCTRL, 0xffn | (0x7n << 32n));
  assert.equal(pmu.active, true);
  pmu.count(PLAIN, 10, 0);
  pmu.count(BRANCH, 3, 0);
  pmu.count(STALL, 4, 0);
  clock.t += 100; // reference ticks at CPL 0: counted when the CPL changes
  pmu.count(PLAIN, 20, 3);
  clock.t += 30;
  pmu.count(BRANCH, 5, 2);
  pmu.count(STALL, 1, 3);
  clock.t += 10; // at CPL > 0: counted when read
  assert.equal(rd(pmu, PMC0), 13n, 'instructions at CPL 0');
  assert.equal(rd(pmu, PMC0 + 1), 25n, 'instructions at CPL > 0');
  assert.equal(rd(pmu, PMC0 + 2), 8n, 'branches');
  assert.equal(rd(pmu, PMC0 + 3), 43n, 'core cycles');
  assert.equal(rd(pmu, PMC0 + 4), 140n, 'reference cycles: the reference clock, not the core cycles');
  assert.equal(rd(pmu, PMC0 + 5), 0n);
  assert.equal(rd(pmu, PMC0 + 6), 0n);
  assert.equal(rd(pmu, PMC0 + 7), 0n);
  assert.equal(rd(pmu, FIXED0), 13n, 'fixed 0 instructions, OS only');
  assert.equal(rd(pmu, FIXED0 + 1), 26n, 'fixed 1 core cycles, USR only');
  assert.equal(rd(pmu, FIXED0 + 2), 140n, 'fixed 2 reference cycles');
  // GLOBAL_CTRL gates each counter.
  ok(pmu, GCTRL, 0x1n);
  pmu.count(PLAIN, 100, 0);
  assert.equal(rd(pmu, PMC0), 113n);
  assert.equal(rd(pmu, PMC0 + 3), 43n);
  assert.equal(rd(pmu, FIXED0), 13n);
  ok(pmu, GCTRL, 0n);
  assert.equal(pmu.active, false);
});

test('configured-unavailable events count nothing', () => {
  const { pmu } = mk({ version: 4, eventsUnavailable: 0x20 });
  ok(pmu, EVTSEL0, BR | EN | OS);
  pmu.count(BRANCH, 5, 0);
  assert.equal(rd(pmu, PMC0), 0n);
});

test('overflow after exactly the preloaded distance: status bit, PMI once, wrap to zero', () => {
  const { pmu, pmis } = mk({ version: 4 });
  ok(pmu, EVTSEL0 + 2, INST | EN | OS | USR | INT);
  ok(pmu, PMC0 + 2, (1n << 32n) - 10n); // sign-extends to 2^48 - 10
  assert.equal(pmu.eventsUntilOverflow(PLAIN, 0), 10);
  assert.equal(pmu.eventsUntilOverflow(STALL, 0), NO_OVERFLOW_LIMIT);
  assert.equal(pmu.instructionsUntilOverflow(3), 10);
  pmu.count(PLAIN, 9, 0);
  assert.equal(rd(pmu, PMC0 + 2), M48);
  assert.equal(rd(pmu, STATUS), 0n);
  assert.equal(pmis.n, 0);
  pmu.count(BRANCH, 1, 3);
  assert.equal(rd(pmu, PMC0 + 2), 0n);
  assert.equal(rd(pmu, STATUS), 1n << 2n);
  assert.equal(pmis.n, 1);
  pmu.count(PLAIN, 5, 0);
  assert.equal(rd(pmu, PMC0 + 2), 5n, 'keeps counting after the wrap');
  assert.equal(pmis.n, 1);
});

test('overflow inside a larger batch wraps to the exact remainder; without INT no PMI', () => {
  const { pmu, pmis } = mk({ version: 4 });
  ok(pmu, EVTSEL0, CYC | EN | OS);
  ok(pmu, A_PMC0, M48 - 2n);
  pmu.count(STALL, 10, 0);
  assert.equal(rd(pmu, PMC0), 7n);
  assert.equal(rd(pmu, STATUS), 1n);
  assert.equal(pmis.n, 0);
});

test('fixed counter overflow sets status bit 32+i and PMIs only with its PMI bit', () => {
  const { pmu, pmis } = mk({ version: 4 });
  ok(pmu, FIXED_CTRL, 0x0b3n); // fixed0: OS+USR no PMI; fixed1: OS+USR+PMI
  ok(pmu, GCTRL, 0x3n << 32n);
  ok(pmu, FIXED0, M48);
  ok(pmu, FIXED0 + 1, M48 - 1n);
  assert.equal(pmu.instructionsUntilOverflow(0), 1);
  pmu.count(PLAIN, 1, 0);
  assert.equal(rd(pmu, STATUS), 1n << 32n);
  assert.equal(pmis.n, 0);
  pmu.count(STALL, 1, 0);
  assert.equal(rd(pmu, STATUS), 3n << 32n);
  assert.equal(pmis.n, 1);
  assert.equal(rd(pmu, FIXED0 + 1), 0n);
});

test('version 2/3: OVF_CTRL clears status bits, accepts OvfBuf/CondChgd (and Ovf_Uncore on v3), #GPs reserved bits', () => {
  for (const version of [2, 3] as const) {
    const { pmu } = mk({ version, gpCounters: 2 });
    ok(pmu, EVTSEL0, INST | EN | OS);
    ok(pmu, EVTSEL0 + 1, INST | EN | OS);
    ok(pmu, PMC0, 0xffff_ffffn);
    ok(pmu, PMC0 + 1, 0xffff_ffffn);
    pmu.count(PLAIN, 1, 0);
    assert.equal(rd(pmu, STATUS), 3n);
    ok(pmu, OVF, 1n);
    assert.equal(rd(pmu, STATUS), 2n);
    ok(pmu, OVF, (3n << 62n) | 2n);
    assert.equal(rd(pmu, STATUS), 0n);
    gp(pmu, OVF, 4n); // no PMC2
    gp(pmu, OVF, 1n << 35n); // no fixed counter 3
    gp(pmu, OVF, 1n << 59n); // CTR_Frz is version 4
    if (version === 3) ok(pmu, OVF, 1n << 61n);
    else gp(pmu, OVF, 1n << 61n);
    gp(pmu, SET, 1n);
  }
});

test('version 4: STATUS_SET sets bits without a PMI, STATUS_RESET clears them, CTR_Frz stops counting', () => {
  const { pmu, pmis } = mk({ version: 4, gpCounters: 2 });
  ok(pmu, EVTSEL0, INST | EN | OS | INT);
  ok(pmu, SET, 0x3n | (0x7n << 32n) | (1n << 58n) | (1n << 61n) | (1n << 62n));
  assert.equal(rd(pmu, STATUS), 0x3n | (0x7n << 32n) | (1n << 58n) | (1n << 61n) | (1n << 62n));
  assert.equal(pmis.n, 0);
  assert.equal(rd(pmu, SET), 0n);
  gp(pmu, SET, 1n << 63n); // no CondChgd in STATUS_SET
  gp(pmu, SET, 1n << 2n);
  gp(pmu, SET, 1n << 55n); // Trace_ToPA_PMI needs Intel PT
  ok(pmu, OVF, 0x1n | (0x7n << 32n) | (1n << 58n) | (1n << 61n) | (1n << 62n) | (1n << 63n));
  assert.equal(rd(pmu, STATUS), 0x2n);
  ok(pmu, OVF, 0x2n);
  pmu.count(PLAIN, 3, 0);
  assert.equal(rd(pmu, PMC0), 3n);
  ok(pmu, SET, 1n << 59n); // CTR_Frz
  assert.equal(pmu.active, false);
  pmu.count(PLAIN, 3, 0);
  assert.equal(rd(pmu, PMC0), 3n, 'frozen');
  ok(pmu, OVF, 1n << 59n);
  pmu.count(PLAIN, 3, 0);
  assert.equal(rd(pmu, PMC0), 6n);
});

test('version 4: GLOBAL_INUSE reflects EVTSEL[7:0], fixed enables and PMI bits; read-only', () => {
  const { pmu } = mk({ version: 4 });
  assert.equal(rd(pmu, INUSE), 0n);
  ok(pmu, EVTSEL0 + 1, 0x3cn); // event select only: in use even though not enabled
  ok(pmu, EVTSEL0 + 2, 0x100n | USR); // umask only: not in use
  ok(pmu, FIXED_CTRL, 0x020n); // fixed1 USR
  assert.equal(rd(pmu, INUSE), 0x2n | (0x2n << 32n));
  ok(pmu, FIXED_CTRL, 0x820n); // fixed2 PMI bit alone
  assert.equal(rd(pmu, INUSE), 0x2n | (0x2n << 32n) | (1n << 63n));
  ok(pmu, FIXED_CTRL, 0n);
  ok(pmu, EVTSEL0 + 2, INT);
  assert.equal(rd(pmu, INUSE), 0x2n | (1n << 63n));
  gp(pmu, INUSE, 0n);
});

test('CMASK/INV in the one-instruction-per-cycle model', () => {
  const { pmu } = mk({ version: 4 });
  ok(pmu, EVTSEL0, INST | EN | OS | cmask(1)); // cycles retiring >= 1 instruction
  ok(pmu, EVTSEL0 + 1, INST | EN | OS | cmask(2)); // never: at most one per cycle
  ok(pmu, EVTSEL0 + 2, INST | EN | OS | INV | cmask(1)); // cycles retiring nothing = stall cycles
  ok(pmu, EVTSEL0 + 3, INST | EN | OS | INV | cmask(2)); // every cycle
  ok(pmu, EVTSEL0 + 4, BR | EN | OS | INV | cmask(1)); // cycles without a branch
  ok(pmu, EVTSEL0 + 5, INST | EN | OS | INV); // INV ignored when CMASK = 0
  ok(pmu, EVTSEL0 + 6, CYC | EN | OS | INV | cmask(1)); // never
  ok(pmu, EVTSEL0 + 7, BR | EN | OS | cmask(1)); // branch cycles
  pmu.count(PLAIN, 7, 0);
  pmu.count(BRANCH, 2, 0);
  pmu.count(STALL, 5, 0);
  const got = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => rd(pmu, PMC0 + i));
  assert.deepEqual(got, [9n, 0n, 5n, 14n, 12n, 9n, 0n, 2n]);
});

test('EDGE counts rising edges of the condition, including CPL qualification', () => {
  const { pmu } = mk({ version: 4 });
  ok(pmu, EVTSEL0, BR | EN | OS | EDGE | cmask(1)); // runs of consecutive branch cycles
  ok(pmu, EVTSEL0 + 1, INST | EN | OS | EDGE | cmask(1)); // runs of instruction-retiring cycles at CPL 0
  ok(pmu, EVTSEL0 + 2, CYC | EN | USR | EDGE); // entries into user mode (CMASK 0: condition = cycle counted)
  pmu.count(PLAIN, 3, 0);
  pmu.count(BRANCH, 1, 0); // edge
  pmu.count(BRANCH, 1, 0); // back-to-back: no new edge
  pmu.count(PLAIN, 1, 0);
  pmu.count(BRANCH, 1, 0); // edge
  pmu.count(STALL, 2, 0); // instructions deasserted
  pmu.count(PLAIN, 2, 0); // instructions edge
  pmu.count(PLAIN, 4, 3); // user: user edge; CPL 3 deasserts the OS-only counters
  pmu.count(BRANCH, 1, 0); // branch edge, instruction edge
  pmu.count(PLAIN, 1, 3); // user edge
  assert.equal(rd(pmu, PMC0), 3n);
  assert.equal(rd(pmu, PMC0 + 1), 3n);
  assert.equal(rd(pmu, PMC0 + 2), 2n);
});

test('instructionsUntilOverflow is a safe bound: the PMI lands after exactly the overflowing instruction', () => {
  const { pmu, pmis } = mk({ version: 4 });
  ok(pmu, EVTSEL0, BR | EN | OS | USR | INT);
  ok(pmu, EVTSEL0 + 1, INST | EN | OS | USR | INT);
  ok(pmu, A_PMC0, M48 - 2n); // 3 branches to overflow
  ok(pmu, A_PMC0 + 1, M48 - 9n); // 10 instructions to overflow
  // A stream of instructions where every 4th is a branch; step like the emulator core would.
  let retired = 0;
  let firstPmiAt = -1;
  while (retired < 40) {
    const budget = pmu.instructionsUntilOverflow(3);
    assert.ok(budget >= 1);
    const run = Math.min(budget, 40 - retired);
    for (let k = 0; k < run; k++) {
      retired++;
      pmu.count(retired % 4 === 0 ? BRANCH : PLAIN, 1, 3);
      if (pmis.n > 0 && firstPmiAt < 0) firstPmiAt = retired;
    }
  }
  assert.equal(firstPmiAt, 10, 'instruction counter overflows on the 10th instruction, before the 3rd branch (12th)');
  assert.equal(rd(pmu, STATUS), 3n);
  assert.equal(rd(pmu, PMC0), 7n); // 10 branches in 40 instructions, wrapped after 3
  assert.equal(rd(pmu, PMC0 + 1), 30n);
});

test('the event filter applies at count time; selectors stay readable and writable', () => {
  const deny = createPmuEventFilter({ action: 'deny', events: [{ eventSelect: 0xc4, umask: 0 }], fixedCounterBitmap: 0b010 });
  const { pmu, clock } = mk({ version: 4 }, deny);
  ok(pmu, EVTSEL0, BR | EN | OS);
  ok(pmu, EVTSEL0 + 1, INST | EN | OS);
  assert.equal(rd(pmu, EVTSEL0), BR | EN | OS);
  ok(pmu, FIXED_CTRL, 0x111n);
  ok(pmu, GCTRL, 0x3n | (0x7n << 32n));
  pmu.count(BRANCH, 4, 0);
  clock.t += 4;
  assert.deepEqual([rd(pmu, PMC0), rd(pmu, PMC0 + 1), rd(pmu, FIXED0), rd(pmu, FIXED0 + 1), rd(pmu, FIXED0 + 2)], [0n, 4n, 4n, 0n, 4n]);
  pmu.setFilter(createPmuEventFilter({ action: 'allow', events: [{ eventSelect: 0xc4, umask: 0 }], fixedCounterBitmap: 0b010 }));
  pmu.count(BRANCH, 1, 0);
  clock.t += 1;
  assert.deepEqual([rd(pmu, PMC0), rd(pmu, PMC0 + 1), rd(pmu, FIXED0), rd(pmu, FIXED0 + 1), rd(pmu, FIXED0 + 2)], [1n, 4n, 4n, 1n, 4n]);
  pmu.setFilter(null);
  pmu.count(BRANCH, 1, 0);
  clock.t += 1;
  assert.deepEqual([rd(pmu, PMC0), rd(pmu, PMC0 + 1), rd(pmu, FIXED0), rd(pmu, FIXED0 + 1), rd(pmu, FIXED0 + 2)], [2n, 5n, 5n, 2n, 5n]);
});

test('no counting work while inactive, and inactive again after disabling', () => {
  const { pmu } = mk();
  assert.equal(pmu.active, false);
  assert.equal(pmu.instructionsUntilOverflow(0), NO_OVERFLOW_LIMIT);
  ok(pmu, EVTSEL0, INST | EN | USR);
  assert.equal(pmu.active, true);
  assert.equal(pmu.activeRings, 2);
  assert.equal(pmu.instructionsUntilOverflow(0), NO_OVERFLOW_LIMIT, 'nothing counts at CPL 0');
  assert.equal(pmu.instructionsUntilOverflow(3), 2 ** 48);
  ok(pmu, EVTSEL0, INST | USR);
  assert.equal(pmu.active, false);
});

test('reset restores power-up state; save/restore round-trips', () => {
  const { pmu } = mk({ version: 4, gpCounters: 2 });
  ok(pmu, EVTSEL0, INST | EN | OS);
  ok(pmu, A_PMC0 + 1, 0x8000_0000_0001n);
  ok(pmu, FIXED_CTRL, 0x3n);
  ok(pmu, GCTRL, 0x1n | (1n << 32n));
  ok(pmu, SET, 1n << 33n);
  pmu.count(PLAIN, 4, 0);
  const saved = JSON.parse(JSON.stringify(pmu.saveState()));
  const { pmu: other } = mk({ version: 4, gpCounters: 2 });
  other.restoreState(saved);
  for (const i of [PMC0, PMC0 + 1, EVTSEL0, FIXED0, FIXED_CTRL, GCTRL, STATUS]) assert.equal(rd(other, i), rd(pmu, i), i.toString(16));
  other.count(PLAIN, 1, 0);
  assert.equal(rd(other, PMC0), 5n);
  pmu.reset();
  assert.deepEqual([rd(pmu, PMC0), rd(pmu, EVTSEL0), rd(pmu, GCTRL), rd(pmu, STATUS), rd(pmu, FIXED_CTRL)], [0n, 0n, 3n, 0n, 0n]);
  assert.throws(() => mk({ version: 4, gpCounters: 3 }).pmu.restoreState(saved), RangeError);
});

test('reference cycles count the reference clock while the vCPU runs unhalted, not core cycles', () => {
  const { pmu, clock, pmis } = mk({ version: 4 });
  ok(pmu, FIXED_CTRL, 0xb00n); // fixed 2: OS + USR + PMI
  ok(pmu, EVTSEL0, REF | EN | USR);
  ok(pmu, EVTSEL0 + 1, CYC | EN | OS | USR);
  ok(pmu, GCTRL, 0x3n | (0x4n << 32n));
  pmu.countBlock(100, 0, 0);
  clock.t += 250; // e.g. a TSC at 2.5x the core's rate
  pmu.runEnd(0, false, true);
  assert.equal(rd(pmu, FIXED0 + 2), 250n);
  assert.equal(rd(pmu, PMC0 + 1), 100n, 'core cycles stay the core model');
  assert.equal(rd(pmu, PMC0), 0n, 'USR only: the ticks ran at CPL 0');
  clock.t += 20; // between runs, not halted: unhalted time (another vCPU had the thread)
  pmu.runStart();
  pmu.countBlock(5, 0, 3); // the ticks so far ran at CPL 0
  clock.t += 30;
  pmu.runEnd(3, true, true); // halted at the end of this run
  assert.equal(rd(pmu, FIXED0 + 2), 300n);
  assert.equal(rd(pmu, PMC0), 30n);
  clock.t += 1000; // halted between runs: nothing counts
  pmu.runStart();
  clock.t += 40;
  pmu.runEnd(3, true, false); // a run that stayed halted counts nothing
  clock.t += 1000;
  pmu.runStart();
  clock.t += 60; // woke up and ran
  pmu.runEnd(3, false, true);
  assert.equal(rd(pmu, FIXED0 + 2), 360n);
  assert.equal(rd(pmu, PMC0), 90n);
  // Overflow from reference ticks: status bit 34 and a PMI, at the reading that crossed the top.
  ok(pmu, FIXED0 + 2, (1n << 48n) - 10n);
  pmu.runStart();
  pmu.countBlock(1, 0, 0);
  clock.t += 25;
  assert.equal(pmis.n, 0);
  pmu.runEnd(0, false, true);
  assert.equal(pmis.n, 1);
  assert.equal(rd(pmu, FIXED0 + 2), 15n);
  assert.equal(rd(pmu, STATUS)! >> 34n, 1n);
  assert.equal(pmu.instructionsUntilOverflow(0) > 1000, true, 'reference ticks never bound the instruction budget');
});
