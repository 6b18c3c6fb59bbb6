/**
 * Differential test: the lazy, list-based VirtualPmu against a deliberately naive reference that
 * applies the SDM rules cycle by cycle. Random programs of counter/control writes and cycle runs
 * must give identical counters, GLOBAL_STATUS and PMI timing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualPmu, CycleKind } from './virtual-pmu.js';
import { resolvePmuConfig } from './pmu-config.js';

const SPAN = 2n ** 48n;
// Per-cycle increment of each selectable event for PLAIN, BRANCH, STALL cycles.
const EVENTS: Record<string, readonly number[]> = {
  '0xc0/0x00': [1, 1, 0],
  '0xc4/0x00': [0, 1, 0],
  '0x3c/0x00': [1, 1, 1],
};
// Reference cycles (0x3c/0x01, fixed 2) count the reference clock's ticks and no core cycle, whatever CMASK/INV/EDGE
// say; this PMU has no reference clock, so they count nothing.
const REF_CYCLES: readonly number[] = [0, 0, 0];

class Reference {
  ctr = new Array<bigint>(11).fill(0n);
  sel = new Array<number>(8).fill(0);
  prev = new Array<boolean>(8).fill(false);
  fixedCtrl = 0;
  gctrl = 0xffn;
  status = 0n;
  pmis = 0;
  cycle(kind: number, cpl: number): boolean {
    let pmi = false;
    const bump = (i: number, by: bigint, int: boolean): void => {
      let v = this.ctr[i]! + by;
      if (v >= SPAN) {
        v -= SPAN;
        this.status |= 1n << BigInt(i < 8 ? i : 32 + i - 8);
        if (int) pmi = true;
      }
      this.ctr[i] = v;
    };
    for (let i = 0; i < 8; i++) {
      const s = this.sel[i]!;
      if (!((s >>> 22) & 1) || !((this.gctrl >> BigInt(i)) & 1n)) continue;
      const incs = EVENTS[`0x${(s & 0xff).toString(16).padStart(2, '0')}/0x${((s >>> 8) & 0xff).toString(16).padStart(2, '0')}`];
      if (!incs) continue;
      const ringOk = cpl === 0 ? (s >>> 17) & 1 : (s >>> 16) & 1;
      const inc = incs[kind]!;
      const cmask = s >>> 24;
      const inv = ((s >>> 23) & 1) === 1;
      const cond = ringOk === 1 && (cmask === 0 ? inc > 0 : inv ? inc < cmask : inc >= cmask);
      if ((s >>> 18) & 1) {
        if (cond && !this.prev[i]) bump(i, 1n, ((s >>> 20) & 1) === 1);
        this.prev[i] = cond;
      } else if (cond) bump(i, cmask === 0 ? BigInt(inc) : 1n, ((s >>> 20) & 1) === 1);
    }
    const fixedIncs = [EVENTS['0xc0/0x00']!, EVENTS['0x3c/0x00']!, REF_CYCLES];
    for (let j = 0; j < 3; j++) {
      const nib = (this.fixedCtrl >>> (4 * j)) & 0xf;
      if (!((this.gctrl >> BigInt(32 + j)) & 1n)) continue;
      if (!(cpl === 0 ? nib & 1 : nib & 2)) continue;
      const inc = fixedIncs[j]![kind]!;
      if (inc) bump(8 + j, BigInt(inc), (nib & 8) !== 0);
    }
    return pmi;
  }
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 0x1_0000_0000;
  };
}

test('lazy VirtualPmu matches a cycle-by-cycle reference on random programs', () => {
  const selectors = [
    0x0000c0, 0x0000c4, 0x00003c, 0x00013c, 0x0001c0, // events
  ];
  const flagsets = [0x430000, 0x410000, 0x420000, 0x530000, 0x400000, 0x470000, 0x01430000, 0x02430000, 0x01c30000, 0x02c30000, 0x01c10000, 0x00c30000, 0x03430000];
  for (let seed = 1; seed <= 150; seed++) {
    const r = rng(seed);
    const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
    let pmis = 0;
    const pmu = new VirtualPmu(resolvePmuConfig({ version: 4 }), { onPmi: () => pmis++ });
    const ref = new Reference();
    const out = { lo: 0, hi: 0 };
    const wr = (idx: number, v: bigint): void => {
      assert.ok(pmu.writeMsr(idx, Number(v & 0xffff_ffffn), Number(v >> 32n)));
    };
    const check = (step: number): void => {
      for (let i = 0; i < 8; i++) {
        pmu.readMsr(0xc1 + i, out);
        assert.equal((BigInt(out.hi) << 32n) | BigInt(out.lo), ref.ctr[i], `seed ${seed} step ${step} PMC${i}`);
      }
      for (let j = 0; j < 3; j++) {
        pmu.readMsr(0x309 + j, out);
        assert.equal((BigInt(out.hi) << 32n) | BigInt(out.lo), ref.ctr[8 + j], `seed ${seed} step ${step} FIXED${j}`);
      }
      pmu.readMsr(0x38e, out);
      assert.equal((BigInt(out.hi) << 32n) | BigInt(out.lo), ref.status, `seed ${seed} step ${step} status`);
      assert.equal(pmis, ref.pmis, `seed ${seed} step ${step} PMIs`);
    };
    for (let step = 0; step < 300; step++) {
      const op = r();
      if (op < 0.12) {
        const i = Math.floor(r() * 8);
        const v = pick(selectors) | pick(flagsets);
        wr(0x186 + i, BigInt(v >>> 0));
        ref.sel[i] = v >>> 0;
        ref.prev[i] = false;
      } else if (op < 0.2) {
        const i = Math.floor(r() * 11);
        const v = SPAN - BigInt(1 + Math.floor(r() * 40));
        wr(i < 8 ? 0x4c1 + i : 0x309 + i - 8, v);
        ref.ctr[i] = v;
      } else if (op < 0.25) {
        const v = BigInt(Math.floor(r() * 256)) | (BigInt(Math.floor(r() * 8)) << 32n);
        wr(0x38f, v);
        ref.gctrl = v;
      } else if (op < 0.3) {
        const v = Math.floor(r() * 0x1000);
        wr(0x38d, BigInt(v));
        ref.fixedCtrl = v;
      } else if (op < 0.35) {
        wr(0x390, ref.status);
        ref.status = 0n;
      } else if (op < 0.4) {
        check(step);
      } else if (op < 0.55) {
        // A basic block: plain instructions then one branch, bounded by the overflow budget.
        const cpl = pick([0, 1, 3]);
        const budget = pmu.instructionsUntilOverflow(cpl);
        const len = Math.min(1 + Math.floor(r() * 12), budget);
        let refPmi = false;
        for (let k = 0; k < len; k++) {
          const p = ref.cycle(k === len - 1 ? CycleKind.BRANCH : CycleKind.PLAIN, cpl);
          if (p) assert.equal(k, len - 1, `seed ${seed} step ${step}: overflow inside a bounded block`);
          refPmi ||= p;
        }
        if (refPmi) ref.pmis++;
        pmu.countBlock(len - 1, 1, cpl);
        assert.equal(pmis, ref.pmis, `seed ${seed} step ${step}: block PMI`);
      } else {
        // A run of cycles the way the core reports them: bounded by the overflow budget.
        const cpl = r() < 0.5 ? 0 : 3;
        const kind = pick([CycleKind.PLAIN, CycleKind.PLAIN, CycleKind.BRANCH, CycleKind.STALL]);
        const want = 1 + Math.floor(r() * 30);
        const n = kind === CycleKind.STALL ? want : Math.min(want, pmu.instructionsUntilOverflow(cpl));
        let refPmi = false;
        for (let k = 0; k < n; k++) {
          const p = ref.cycle(kind, cpl);
          // An instruction run bounded by instructionsUntilOverflow overflows only on its last cycle.
          if (p && kind !== CycleKind.STALL) assert.equal(k, n - 1, `seed ${seed} step ${step}: overflow inside a bounded run`);
          refPmi ||= p;
        }
        if (refPmi) ref.pmis++;
        if (r() < 0.5 || kind === CycleKind.STALL) pmu.count(kind, n, cpl);
        else if (kind === CycleKind.BRANCH) pmu.countBlock(0, n, cpl);
        else pmu.countBlock(n, 0, cpl);
        assert.equal(pmis, ref.pmis, `seed ${seed} step ${step}: PMI raised by the same call`);
      }
    }
    check(300);
  }
});
