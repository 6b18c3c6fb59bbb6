import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X87State, SW_ES, SW_C2, SW_C1 } from './fpu-state.js';
import { X87Ctx, type X87Bus } from './x87-core.js';
import { GATE_FERR, GATE_MF, GATE_NM, GATE_RUN, GATE_UD, XC_CONTROL, XC_WAITING, x87Class, x87Execute, x87Gate, x87Pending } from './x87.js';
import { fldenv, fnsave, fnstenv, frstor, fxrstorX87, fxsaveX87 } from './x87-env.js';

class Mem implements X87Bus {
  readonly b = new Uint8Array(1024);
  readonly v = new DataView(this.b.buffer);
  rd8(a: number): number {
    return this.b[a]!;
  }
  rd16(a: number): number {
    return this.v.getUint16(a, true);
  }
  rd32(a: number): number {
    return this.v.getUint32(a, true);
  }
  wr8(a: number, x: number): void {
    this.b[a] = x;
  }
  wr16(a: number, x: number): void {
    this.v.setUint16(a, x, true);
  }
  wr32(a: number, x: number): void {
    this.v.setUint32(a, x >>> 0, true);
  }
  add(a: number, k: number): number {
    return a + k;
  }
  probeWrite(a: number, n: number): void {
    if (a < 0 || a + n > this.b.length) throw new RangeError('outside');
  }
}

const ctx = new X87Ctx();

function exec(s: X87State, m: Mem, bytes: number[], addr = 0): number {
  return x87Execute(s, m, bytes[0]!, bytes[1]!, addr, ctx);
}

test('the #UD encodings are those the hardware rejects', () => {
  // Measured on the host CPU (tests/differential): register forms and memory forms without an instruction.
  const ud = new Set<string>();
  for (let m = 0xd1; m <= 0xd7; m++) ud.add(`d9 ${m.toString(16)}`);
  for (const m of [0xe2, 0xe3, 0xe6, 0xe7, 0xef]) ud.add(`d9 ${m.toString(16)}`);
  for (let m = 0xe0; m <= 0xff; m++) if (m !== 0xe9) ud.add(`da ${m.toString(16)}`);
  for (const m of [0xe5, 0xe6, 0xe7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff]) ud.add(`db ${m.toString(16)}`);
  for (let m = 0xf0; m <= 0xff; m++) ud.add(`dd ${m.toString(16)}`);
  for (const m of [0xd8, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf]) ud.add(`de ${m.toString(16)}`);
  for (let m = 0xe1; m <= 0xe7; m++) ud.add(`df ${m.toString(16)}`);
  for (let m = 0xf8; m <= 0xff; m++) ud.add(`df ${m.toString(16)}`);
  for (let op = 0xd8; op <= 0xdf; op++) {
    for (let m = 0xc0; m <= 0xff; m++) assert.equal(x87Class(op, m) === 0, ud.has(`${op.toString(16)} ${m.toString(16)}`), `${op.toString(16)} ${m.toString(16)}`);
  }
  assert.equal(x87Class(0xd9, 0x08), 0);
  assert.equal(x87Class(0xdb, 0x20), 0);
  assert.equal(x87Class(0xdb, 0x30), 0);
  assert.equal(x87Class(0xdd, 0x28), 0);
  // FNSTENV/FNSTCW/FNSAVE/FNSTSW/FNINIT/FNCLEX do not wait; FLDCW does.
  for (const [op, m] of [[0xd9, 0x30], [0xd9, 0x38], [0xdd, 0x30], [0xdd, 0x38], [0xdb, 0xe3], [0xdb, 0xe2], [0xdf, 0xe0]] as const) {
    assert.equal(x87Class(op, m) & XC_WAITING, 0);
    assert.notEqual(x87Class(op, m) & XC_CONTROL, 0);
  }
  assert.notEqual(x87Class(0xd9, 0x28) & XC_WAITING, 0);
});

test('an unmasked exception becomes pending (ES) and FLDCW re-evaluates it', () => {
  const s = new X87State();
  const m = new Mem();
  s.init();
  m.wr16(0, 0x037a); // unmask ZE
  exec(s, m, [0xd9, 0x28]);
  exec(s, m, [0xd9, 0xe8]); // FLD1
  exec(s, m, [0xd9, 0xee]); // FLDZ
  exec(s, m, [0xde, 0xf9]); // FDIVP ST(1), ST(0): 1/0
  assert.equal(x87Pending(s), true);
  assert.equal(s.top, 6, 'unmasked ZE: no pop');
  m.wr16(0, 0x037f);
  exec(s, m, [0xd9, 0x28]); // FLDCW masking everything: no longer pending
  assert.equal(x87Pending(s), false);
  assert.equal(s.statusWord() & SW_ES, 0);
});

test('stack overflow and underflow: IE+SF, C1, masked indefinite', () => {
  const s = new X87State();
  const m = new Mem();
  s.init();
  for (let i = 0; i < 8; i++) exec(s, m, [0xd9, 0xe8]);
  exec(s, m, [0xd9, 0xe8]); // ninth push
  assert.equal(s.statusWord() & 0x41, 0x41);
  assert.notEqual(s.sw & SW_C1, 0);
  assert.equal(s.se[s.top], 0xffff);
  assert.equal(s.sigHi[s.top], 0xc0000000);
  s.init();
  exec(s, m, [0xd8, 0xc1]); // FADD with an empty stack
  assert.equal(s.statusWord() & 0x41, 0x41);
  assert.equal(s.sw & SW_C1, 0);
});

test('FPREM reduces a huge exponent gap by 32 + (D mod 32) and sets C2', () => {
  const s = new X87State();
  const m = new Mem();
  s.init();
  s.top = 6;
  s.setReg(7, 0x3fff, 0xc0000000, 1); // ST(1) = 1.5
  s.setReg(6, 0x3fff + 200, 0xffffffff, 0xfffffff1); // ST(0) ~ 2^200
  exec(s, m, [0xd9, 0xf8]);
  assert.notEqual(s.sw & SW_C2, 0);
  assert.equal(s.se[6], 0x409d); // measured on the host: 200 - (32 + 8) - 2 leading zeros
  assert.equal(s.sigHi[6], 0xffffbeaa);
});

test('constants are rounded in RC, without PE', () => {
  const s = new X87State();
  const m = new Mem();
  const want: [number, number, number][] = [
    [0, 0xeb, 0x2168c235], [1, 0xeb, 0x2168c234], [2, 0xeb, 0x2168c235], [3, 0xeb, 0x2168c234],
    [0, 0xea, 0x5c17f0bc], [1, 0xea, 0x5c17f0bb], [0, 0xec, 0xfbcff799], [0, 0xed, 0xd1cf79ac], [3, 0xed, 0xd1cf79ab],
  ];
  for (const [rc, op, lo] of want) {
    s.init();
    s.cw = 0x37f | (rc << 10);
    exec(s, m, [0xd9, op]);
    assert.equal(s.sigLo[7], lo, `rc ${rc} d9 ${op.toString(16)}`);
    assert.equal(s.sw & 0x3f, 0);
  }
});

function stateWithPointers(): X87State {
  const s = new X87State();
  s.init();
  s.cw = 0x027f;
  s.setStatusWord(0x3a21);
  s.fipLo = 0x12345;
  s.fcs = 0x1b;
  s.fop = 0x5d9;
  s.fdpLo = 0x6789a;
  s.fds = 0x23;
  s.top = 7;
  s.setReg(7, 0x3fff, 0x80000000, 0);
  s.setReg(0, 0x0000, 0, 0);
  return s;
}

test('FNSTENV layouts (32/16-bit, protected/real) and FLDENV round trips', () => {
  const m = new Mem();
  const layouts: [boolean, boolean, number[]][] = [
    // [op16, real, expected 16-bit words at even offsets]
    [false, false, [0x027f, 0xffff, 0x3a21, 0xffff, 0x3ffd, 0xffff, 0x2345, 0x0001, 0x001b, 0x05d9, 0x789a, 0x0006, 0x0023, 0xffff]],
    [false, true, [0x027f, 0xffff, 0x3a21, 0xffff, 0x3ffd, 0xffff, 0x2345, 0xffff, 0x15d9, 0x0000, 0x789a, 0xffff, 0x6000, 0x0000]],
    [true, false, [0x027f, 0x3a21, 0x3ffd, 0x2345, 0x001b, 0x789a, 0x0023]],
    [true, true, [0x027f, 0x3a21, 0x3ffd, 0x2345, 0x15d9, 0x789a, 0x6000]],
  ];
  for (const [op16, real, words] of layouts) {
    const s = stateWithPointers();
    const c = new X87Ctx();
    c.op16 = op16;
    c.real = real;
    m.b.fill(0xcc);
    fnstenv(s, m, 0, c);
    const got = words.map((_, i) => m.rd16(i * 2));
    assert.deepEqual(got, words, `op16 ${op16} real ${real}`);
    assert.equal(s.cw & 0x3f, 0x3f, 'FNSTENV masks every exception');
    const t = new X87State();
    t.setReg(0, 1, 2, 3);
    fldenv(t, m, 0, c);
    assert.equal(t.statusWord(), 0x3a21);
    // The 16-bit protected layout keeps 16-bit offsets; the real-mode ones 20 or 32 bits.
    assert.equal(t.fipLo, op16 && !real ? 0x2345 : 0x12345);
    assert.equal(t.fdpLo, op16 && !real ? 0x789a : 0x6789a);
    assert.equal(t.fop, op16 && !real ? 0 : 0x5d9);
  }
});

test('FNSAVE/FRSTOR and the FXSAVE x87 region round trip registers, tags and pointers', () => {
  const m = new Mem();
  const s = stateWithPointers();
  s.setReg(3, 0x7fff, 0xc0000000, 5); // a NaN in a non-stack register
  const c = new X87Ctx();
  fnsave(s, m, 0, c);
  assert.equal(s.empty, 0xff, 'FNSAVE reinitializes');
  const t = new X87State();
  frstor(t, m, 0, c);
  const ref = stateWithPointers();
  ref.setReg(3, 0x7fff, 0xc0000000, 5);
  assert.equal(t.statusWord(), ref.statusWord());
  assert.equal(t.tagWord(), ref.tagWord());
  assert.equal(t.se[3], 0x7fff);
  assert.equal(t.sigLo[3], 5);
  fxsaveX87(ref, m, 512, true);
  assert.equal(m.rd8(516), ref.abridgedTag());
  const u = new X87State();
  fxrstorX87(u, m, 512, true);
  assert.equal(u.statusWord(), ref.statusWord());
  assert.equal(u.empty, ref.empty);
  assert.equal(u.fipLo, ref.fipLo);
  assert.equal(u.sigHi[7], 0x80000000);
});

test('the gate: #NM from CR0.EM/TS (WAIT: MP and TS), #UD, then #MF or FERR# for a pending exception', () => {
  const s = new X87State();
  s.init();
  const PE = 1;
  const MP = 2;
  const EM = 4;
  const TS = 8;
  const NE = 0x20;
  assert.equal(x87Gate(s, PE | NE, 0xd8, 0xc1), GATE_RUN);
  assert.equal(x87Gate(s, PE | EM, 0xd8, 0xc1), GATE_NM);
  assert.equal(x87Gate(s, PE | TS, 0xd8, 0xc1), GATE_NM);
  assert.equal(x87Gate(s, PE | TS, 0x9b, 0), GATE_RUN, 'WAIT ignores TS without MP');
  assert.equal(x87Gate(s, PE | EM, 0x9b, 0), GATE_RUN, 'WAIT ignores EM');
  assert.equal(x87Gate(s, PE | MP | TS, 0x9b, 0), GATE_NM);
  assert.equal(x87Gate(s, PE | EM, 0xd9, 0xd1), GATE_NM, '#NM before #UD');
  assert.equal(x87Gate(s, PE | NE, 0xd9, 0xd1), GATE_UD);
  s.setStatusWord(0x8081); // IE pending (unmasked below)
  s.cw = 0x37e;
  assert.equal(x87Gate(s, PE | NE, 0xd8, 0xc1), GATE_MF);
  assert.equal(x87Gate(s, PE, 0xd8, 0xc1), GATE_FERR);
  assert.equal(x87Gate(s, PE | NE, 0x9b, 0), GATE_MF);
  assert.equal(x87Gate(s, PE | NE, 0xdb, 0xe2), GATE_RUN, 'FNCLEX does not wait');
  assert.equal(x87Gate(s, PE | NE, 0xd9, 0xd1), GATE_UD, '#UD before #MF');
});
