// Soft-float speed: the binary64/binary32 API (fast path and exact slow path) and x87 arithmetic,
// side by side with the native JS double operation. Run after `npm run build`.
//   node bench/fpu/softfloat.mjs
import { loadavg } from 'node:os';
import { f64Add, f64Mul, f64Div, f64Sqrt, f32Add, f32Mul } from '../../dist/src/cpu/emu/fpu/ieee-binary.js';
import { X87State } from '../../dist/src/cpu/emu/fpu/fpu-state.js';
import { X87Ctx } from '../../dist/src/cpu/emu/fpu/x87-core.js';
import { x87Execute } from '../../dist/src/cpu/emu/fpu/x87.js';

const N = 2_000_000;
const src = new Float64Array(2048);
for (let i = 0; i < src.length; i++) src[i] = (Math.sin(i) + 1.5) * 2 ** ((i % 40) - 20);
const a = new Int32Array(src.buffer);
const d = new Int32Array(4);
const f32src = new Float32Array(2048);
for (let i = 0; i < f32src.length; i++) f32src[i] = src[i];
const a32 = new Int32Array(f32src.buffer);

function time(name, fn) {
  fn(N / 10); // warm up
  const t0 = performance.now();
  const sink = fn(N);
  const ns = ((performance.now() - t0) * 1e6) / N;
  return { name, ns, sink };
}

const RN = 0x1f80;
const RU = 0x1f80 | (2 << 13); // round up: always the exact slow path
const rows = [
  time('native JS a + b (Float64Array)', (n) => { let s = 0; for (let i = 0; i < n; i++) { const k = i & 2046; s += src[k] + src[k + 1]; } return s; }),
  time('f64Add fast path (RN, normal)', (n) => { let f = 0; for (let i = 0; i < n; i++) { const k = (i & 1022) * 2; f |= f64Add(d, 0, a, k, a, k + 2, RN); } return f; }),
  time('f64Add exact path (RU)', (n) => { let f = 0; for (let i = 0; i < n; i++) { const k = (i & 1022) * 2; f |= f64Add(d, 0, a, k, a, k + 2, RU); } return f; }),
  time('f64Mul fast path', (n) => { let f = 0; for (let i = 0; i < n; i++) { const k = (i & 1022) * 2; f |= f64Mul(d, 0, a, k, a, k + 2, RN); } return f; }),
  time('f64Mul exact path (RU)', (n) => { let f = 0; for (let i = 0; i < n; i++) { const k = (i & 1022) * 2; f |= f64Mul(d, 0, a, k, a, k + 2, RU); } return f; }),
  time('f64Div fast path', (n) => { let f = 0; for (let i = 0; i < n; i++) { const k = (i & 1022) * 2; f |= f64Div(d, 0, a, k, a, k + 2, RN); } return f; }),
  time('f64Div exact path (RU)', (n) => { let f = 0; for (let i = 0; i < n; i++) { const k = (i & 1022) * 2; f |= f64Div(d, 0, a, k, a, k + 2, RU); } return f; }),
  time('f64Sqrt fast path', (n) => { let f = 0; for (let i = 0; i < n; i++) { const k = (i & 1022) * 2; f |= f64Sqrt(d, 0, a, k, RN); } return f; }),
  time('f64Sqrt exact path (RU)', (n) => { let f = 0; for (let i = 0; i < n; i++) { const k = (i & 1022) * 2; f |= f64Sqrt(d, 0, a, k, RU); } return f; }),
  time('f32Add fast path', (n) => { let f = 0; for (let i = 0; i < n; i++) { const k = i & 2046; f |= f32Add(d, 0, a32, k, a32, k + 1, RN); } return f; }),
  time('f32Mul fast path', (n) => { let f = 0; for (let i = 0; i < n; i++) { const k = i & 2046; f |= f32Mul(d, 0, a32, k, a32, k + 1, RN); } return f; }),
];

// x87: FADD/FMUL/FDIV/FSQRT ST(0), ST(1) on extended values, through the instruction entry point.
const s = new X87State();
const ctx = new X87Ctx();
const bus = null;
function x87(name, modrm, op = 0xd8) {
  return time(name, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      s.init();
      s.setReg(7, 0x3fff, 0xb504f333, 0xf9de6484);
      s.setReg(6, 0x4000, 0xc90fdaa2, 0x2168c235);
      s.top = 6;
      x87Execute(s, bus, op, modrm, 0, ctx);
      acc ^= s.sigLo[6];
    }
    return acc;
  });
}
rows.push(x87('x87 FADD ST0,ST1 (80-bit, incl. state setup)', 0xc1));
rows.push(x87('x87 FMUL ST0,ST1', 0xc9));
rows.push(x87('x87 FDIV ST0,ST1', 0xf1));
rows.push(x87('x87 FSQRT', 0xfa, 0xd9));
rows.push(x87('x87 FSIN (BigInt, ~200 bits)', 0xfe, 0xd9));

const base = rows[0].ns;
console.log(`soft-float, ${N} ops each, load ${loadavg()[0].toFixed(1)}:`);
for (const r of rows) console.log(`  ${r.name.padEnd(48)} ${r.ns.toFixed(1).padStart(8)} ns/op  ${(r.ns / base).toFixed(1).padStart(6)}x native`);
