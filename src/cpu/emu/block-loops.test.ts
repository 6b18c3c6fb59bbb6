/**
 * Compiled blocks that loop inside themselves (block-compiler.ts): a loop entered mid-block after
 * setup code (a bitwise CRC-32 inner loop, as gcc emits it) must retire exactly the instructions,
 * registers and flags of the interpreter, at every slice boundary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCpu, load } from './cpu-harness.test-util.js';

const N = 200;
// 0x1000: mov ecx,8 | 0x1005 (loop head): mov esi,[0x2000]; mov edx,eax; and edx,1; neg edx; shr eax,1;
// and edx,0xedb88320; xor eax,edx; dec ecx; jnz 0x1005 | inc ebx; cmp ebx,N; jnz 0x1000 | hlt
const PROG =
  'b9 08000000' +
  '8b35 00200000 89c2 83e201 f7da c1e801 81e2 2083b8ed 31d0 ffc9 75e4' +
  `ffc3 81fb ${N.toString(16).padStart(2, '0')}000000 75d5` +
  'f4';

function crcRef(): number {
  let a = 0xffffffff;
  for (let i = 0; i < N; i++) for (let k = 0; k < 8; k++) a = (a >>> 1) ^ (0xedb88320 & -(a & 1));
  return a >>> 0;
}

function trace(compile: boolean, slice: number): string[] {
  const { cpu, mem } = makeCpu();
  cpu.setFlat32();
  cpu.compile = compile;
  cpu.jitThreshold = Math.min(cpu.jitThreshold, 40); // these loops run far fewer times than the default thresholds
  cpu.jitLate = Math.min(cpu.jitLate, 40);
  load(mem, 0x1000, PROG);
  load(mem, 0x2000, '78563412');
  cpu.rip = 0x1000;
  cpu.gpr[2 * 0] = -1;
  const out: string[] = [];
  for (let guard = 0; guard < 100000; guard++) {
    const r = cpu.run(slice);
    out.push(`${r} n=${cpu.instructions} rip=${cpu.rip.toString(16)} eax=${(cpu.gpr[2 * 0]! >>> 0).toString(16)} ecx=${cpu.gpr[2 * 1]} ebx=${cpu.gpr[2 * 3]} esi=${cpu.gpr[2 * 6]} fl=${cpu.getRflags().toString(16)}`);
    if (r !== 'budget') break;
  }
  return out;
}

test('a loop entered mid-block runs inside its compiled block with exact counts and results', () => {
  const full = trace(true, 1e9);
  const last = full[full.length - 1]!;
  // Per outer iteration: mov + 8 x 9 loop instructions + inc/cmp/jnz = 76; then HLT.
  assert.match(last, new RegExp(`^hlt n=${N * 76 + 1} `));
  assert.ok(last.includes(` eax=${crcRef().toString(16)} `), last);
  assert.ok(last.includes(' esi=305419896 '), last);
  assert.deepEqual(full, trace(false, 1e9));
});

test('compiled mid-block loops stop exactly at slice boundaries', () => {
  for (const slice of [1, 7, 13, 76, 100]) assert.deepEqual(trace(true, slice), trace(false, slice), `slice ${slice}`);
});

// 0x1000: xor esi,esi | 0x1002: cmp byte [esi+0x2000],0x80; jz 0x100d | inc ebx | 0x100d: inc esi;
// cmp esi,256; jnz 0x1002 | hlt: the sieve's byte test, compiled inline (rd8 and size-1 lazy flags).
const BYTES = '31f6' + '80be00200000 80 7402' + 'ffc3' + '46 81fe00010000 75ec' + 'f4';

function byteTrace(compile: boolean, slice: number): string[] {
  const { cpu, mem } = makeCpu();
  cpu.setFlat32();
  cpu.compile = compile;
  cpu.jitThreshold = Math.min(cpu.jitThreshold, 40); // these loops run far fewer times than the default thresholds
  cpu.jitLate = Math.min(cpu.jitLate, 40);
  load(mem, 0x1000, BYTES);
  mem.write(0x2000, Uint8Array.from({ length: 256 }, (_, i) => (i % 5 === 0 ? 0x80 : (i * 37) & 0xff)));
  cpu.rip = 0x1000;
  const out: string[] = [];
  for (let guard = 0; guard < 100000; guard++) {
    const r = cpu.run(slice);
    out.push(`${r} n=${cpu.instructions} rip=${cpu.rip.toString(16)} ebx=${cpu.gpr[2 * 3]} esi=${cpu.gpr[2 * 6]} fl=${cpu.getRflags().toString(16)}`);
    if (r !== 'budget') break;
  }
  return out;
}

test('CMP byte [m], imm8 compiled inline keeps exact flags and branch outcomes', () => {
  let expect = 0;
  for (let i = 0; i < 256; i++) if ((i % 5 === 0 ? 0x80 : (i * 37) & 0xff) !== 0x80) expect++;
  const full = byteTrace(true, 1e9);
  assert.ok(full[full.length - 1]!.includes(` ebx=${expect} `), full[full.length - 1]);
  for (const slice of [1e9, 1, 2, 5]) assert.deepEqual(byteTrace(true, slice), byteTrace(false, slice), `slice ${slice}`);
});
