import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XmmFile } from './simd-file.js';
import { emuCpuid } from '../../../features/emu-cpu-model.js';
import { fxrstor, fxsave, MXCSR_MASK, STATE_GP, STATE_OK, xcr0Valid, xrstor, xrstorOut, xsave, type LegacyX87, type StateBus } from './sse-state.js';

class FlatBus implements StateBus {
  readonly mem = new Uint8Array(4096);
  private readonly dv = new DataView(this.mem.buffer);
  probes: [number, number][] = [];
  rd8(a: number): number {
    return this.mem[a]!;
  }
  rd32(a: number): number {
    return this.dv.getInt32(a, true);
  }
  wr8(a: number, v: number): void {
    this.mem[a] = v;
  }
  wr32(a: number, v: number): void {
    this.dv.setInt32(a, v | 0, true);
  }
  add(a: number, k: number): number {
    return a + k;
  }
  probeWrite(a: number, n: number): void {
    this.probes.push([a, n]);
  }
}

/** A stand-in x87 part: one word at offset 0 (FCW) round-trips, init sets 0x37f. */
class FakeX87 implements LegacyX87 {
  cw = 0x1234;
  saved = 0;
  save(bus: StateBus, a: number): void {
    bus.wr32(a, this.cw);
    this.saved++;
  }
  restore(bus: StateBus, a: number): void {
    this.cw = bus.rd32(a) & 0xffff;
  }
  init(): void {
    this.cw = 0x37f;
  }
  inUse(): boolean {
    return this.cw !== 0x37f;
  }
}

function fill(x: XmmFile): void {
  for (let k = 0; k < 64; k++) x.i32[k] = (k + 1) * 0x01010101;
}

test('FXSAVE/FXRSTOR round trip; XMM8-15 only in 64-bit mode; reserved MXCSR bits fault', () => {
  const bus = new FlatBus();
  const x = new XmmFile();
  const x87 = new FakeX87();
  fill(x);
  fxsave(bus, 0x100, x87, x, 0x9fc0, true, 16);
  assert.deepEqual(bus.probes, [[0x100, 416]]);
  assert.equal(bus.rd32(0x100 + 24), 0x9fc0);
  assert.equal(bus.rd32(0x100 + 28), MXCSR_MASK);
  assert.equal(bus.rd32(0x100 + 160 + 15 * 16 + 12), 64 * 0x01010101);
  const y = new XmmFile();
  x87.cw = 0;
  assert.equal(fxrstor(bus, 0x100, x87, y, true, 8), 0x9fc0);
  assert.equal(x87.cw, 0x1234);
  assert.deepEqual([...y.i32.subarray(0, 32)], [...x.i32.subarray(0, 32)]);
  assert.deepEqual([...y.i32.subarray(32, 64)], Array(32).fill(0)); // XMM8-15 untouched outside 64-bit mode
  bus.wr32(0x100 + 24, 0x10000);
  x87.cw = 7;
  assert.equal(fxrstor(bus, 0x100, x87, y, true, 16), -1);
  assert.equal(x87.cw, 7); // nothing loaded
});

test('XSAVE writes only the requested components and sets their XSTATE_BV bits', () => {
  const bus = new FlatBus();
  const x = new XmmFile();
  const x87 = new FakeX87();
  fill(x);
  x87.cw = 0x27f; // not the initial configuration
  bus.mem[0x200 + 512] = 0x84; // bits of other components are kept
  xsave(bus, 0x200, 2, x87, x, 0x1f80, true, 16, false);
  assert.equal(x87.saved, 0);
  assert.equal(bus.rd32(0x200 + 24), 0x1f80);
  assert.equal(bus.mem[0x200 + 512], 0x86);
  xsave(bus, 0x200, 1, x87, x, 0x1f80, true, 16, false);
  assert.equal(x87.saved, 1);
  assert.equal(bus.mem[0x200 + 512], 0x87);
});

test('XINUSE: a component in its initial configuration is reported not in use; XSAVEOPT then skips it', () => {
  const bus = new FlatBus();
  const x = new XmmFile();
  const x87 = new FakeX87();
  x87.cw = 0x37f;
  bus.mem.fill(0xee, 0x200, 0x200 + 512);
  xsave(bus, 0x200, 3, x87, x, 0x1f80, true, 16, true);
  assert.equal(x87.saved, 0);
  assert.equal(bus.mem[0x200 + 160], 0xee, 'XMM area untouched');
  assert.equal(bus.rd32(0x200 + 24), 0x1f80, 'MXCSR written');
  assert.equal(bus.mem[0x200 + 512], 0);
  xsave(bus, 0x200, 3, x87, x, 0x1f80, true, 16, false);
  assert.equal(x87.saved, 1);
  assert.equal(bus.mem[0x200 + 160], 0);
  assert.equal(bus.mem[0x200 + 512], 0, 'XSAVE writes the state but XSTATE_BV still says init');
  x.i32[5] = 1;
  xsave(bus, 0x200, 3, x87, x, 0x1f80, true, 16, true);
  assert.equal(bus.mem[0x200 + 512], 2);
});

test('XRSTOR: init for clear XSTATE_BV bits, MXCSR always loaded with SSE requested, header checks', () => {
  const bus = new FlatBus();
  const x = new XmmFile();
  const x87 = new FakeX87();
  fill(x);
  const a = 0x400;
  bus.wr32(a + 24, 0x7f80);
  bus.wr32(a + 512, 0); // XSTATE_BV = 0: both components initialized
  assert.equal(xrstor(bus, a, 3, 3, x87, x, true, 16), STATE_OK);
  assert.equal(xrstorOut.mxcsr, 0x7f80);
  assert.equal(x87.cw, 0x37f);
  assert.deepEqual([...x.arch], Array(64).fill(0));
  for (const [off, v] of [[512, 4], [516, 1], [520, 1], [527, 0x80], [528, 1]] as const) {
    bus.wr32(a + 512, 0);
    for (let k = 516; k < 536; k += 4) bus.wr32(a + k, 0);
    bus.wr8(a + off, v);
    assert.equal(xrstor(bus, a, 3, 3, x87, x, true, 16), STATE_GP, `header byte ${off - 512} = ${v}`);
  }
  for (let k = 512; k < 536; k += 4) bus.wr32(a + k, 0);
  bus.wr32(a + 512, 2); // XSTATE_BV has SSE, XCR0 only x87
  assert.equal(xrstor(bus, a, 1, 1, x87, x, true, 16), STATE_GP);
  bus.wr32(a + 24, 0x40000);
  assert.equal(xrstor(bus, a, 2, 3, x87, x, true, 16), STATE_GP);
  assert.equal(xrstor(bus, a, 1, 3, x87, x, true, 16), STATE_OK); // MXCSR not read without SSE requested
});

test('XCR0 rules and CPUID leaf 0xD', () => {
  assert.ok(xcr0Valid(1, 0));
  assert.ok(xcr0Valid(3, 0));
  assert.ok(!xcr0Valid(2, 0)); // x87 cannot be disabled
  assert.ok(!xcr0Valid(7, 0)); // AVX is not supported
  assert.ok(!xcr0Valid(3, 1));
  const out = new Int32Array(4);
  emuCpuid(0xd, 0, 0, 1, out);
  assert.deepEqual([...out], [3, 576, 576, 0]);
  emuCpuid(0xd, 1, 0, 1, out);
  assert.deepEqual([...out], [1, 0, 0, 0]);
  emuCpuid(0xd, 2, 0, 1, out);
  assert.deepEqual([...out], [0, 0, 0, 0]);
});
