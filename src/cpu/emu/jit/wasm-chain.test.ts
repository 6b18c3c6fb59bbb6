/**
 * Chained wasm runs (wasm-chain.ts): compiled blocks that go on into the next compiled block inside
 * WebAssembly must leave the vCPU exactly as the run loop does block by block: instruction and branch counts,
 * registers, flags and RIP at every slice end, with flags that one block sets and the next reads, CALL and RET
 * (inline and through their handler), side exits (in self-loops too), a handler import (IMUL) and a block that
 * rewrites another block's code while both are linked.
 *
 * The tier is picked from TSVMM_JIT when cpu.ts loads, so this file sets it first and imports the harness
 * after (node --test runs each file in a process of its own).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

process.env['TSVMM_JIT'] = 'wasm-eager';
const { makeCpu, makeLong64Cpu, load } = await import('../cpu-harness.test-util.js');

// 0x1000: mov ecx,200
// loop:   call f | mov eax,ecx | imul eax,eax,7 | add ebx,eax | cmp ecx,50 | jb skip | add edx,3
// skip:   mov [0x3000],ebx | cmp ebx,edx | jmp next
// next:   jae over | inc esi
// over:   dec ecx | jnz loop | hlt
// f:      add edi,ecx | shr edi,1 (its CF read: through the `sh` import) | jc f2 | add edi,ecx | ret
// f2:     xor edi,5 | inc byte [0x1018] (the immediate of `add edx,3`) | shl rdi,3 | shr rdi,3 | ret
const PROG =
  'b9c8000000e82300000089c86bc00701c383f932720383c203891c250030000039d3eb007302ffc6ffc975d9f4' +
  '01cfd1ef720301cfc383f705fe04251810000048c1e70348c1ef03c3';

// The same in 32-bit flat code (CS base 0: RIPs are linear addresses there too), without the 64-bit shifts; the
// immediate of `add edx,3` is at 0x101a.
const PROG32 =
  'b9c8000000e82000000089c86bc00701c383f932720383c203891d0030000039d3eb007301464975dcf4' +
  '01cfd1ef720301cfc383f705fe051a100000c1e703c1ef03c3';

// Indirect calls (r8 holds f): call r8 | ... | lea r9,[rip+g]; call r9 (when ecx >= 50) | ... ;
// f2: push g; call [rsp] (memory: by its handler); pop rax; call rax; g: add edx,3; ret
const PROG_CALLR =
  'b9c800000041b83610000041ffd089c86bc00701c383f932720a4c8d0d2d00000041ffd1891c250030000039d37302ffc6ffc975d6f4' +
  '01cfd1ef720301cfc383f705684e100000ff142458ffd0c383c203c3';

function trace(compile: boolean, slice: number, bits: 32 | 64 = 64, prog?: string, csLimit?: number): { lines: string[]; chains: number } {
  const t = bits === 64 ? makeLong64Cpu() : makeCpu();
  const cpu = t.cpu;
  assert.ok(cpu.wasm !== null, 'the vCPU runs with the wasm tier');
  cpu.compile = compile;
  if (bits === 32) {
    cpu.setFlat32();
    cpu.rip = 0x1000;
    cpu.gpr[2 * 4] = 0x8000;
    if (csLimit !== undefined) cpu.segLimit[1] = csLimit; // CS
  }
  load(t.mem, 0x1000, prog ?? (bits === 64 ? PROG : PROG32));
  const lines: string[] = [];
  for (let guard = 0; guard < 200000; guard++) {
    const r = cpu.run(slice);
    const regs = [0, 1, 2, 3, 4, 6, 7].map((i) => `${cpu.gpr[i << 1]}:${cpu.gpr[(i << 1) | 1]}`).join(' ');
    lines.push(`${r} n=${cpu.instructions} br=${cpu.branchesRetired.join('/')} rip=${cpu.rip.toString(16)} ${regs} fl=${cpu.getRflags().toString(16)} m=${t.mem.readU32(0x3000)} code=${t.mem.readU32(0x1018).toString(16)}`);
    if (r !== 'budget') break;
  }
  return { lines, chains: cpu.jitStats.chains };
}

test('chained wasm runs end in the state the run loop reaches block by block', () => {
  const ref = trace(false, 1e9);
  const jit = trace(true, 1e9);
  assert.match(ref.lines.at(-1)!, /^hlt /);
  assert.deepEqual(jit.lines, ref.lines);
  assert.ok(jit.chains > 20, `compiled blocks ran on into others (${jit.chains} chained runs)`);
});

test('chained wasm runs stop exactly at slice boundaries', () => {
  for (const slice of [1, 2, 7, 13, 47, 100, 1000]) assert.deepEqual(trace(true, slice).lines, trace(false, slice).lines, `slice ${slice}`);
});

test('32-bit flat code chains too, with the same state at every slice end', () => {
  const ref = trace(false, 1e9, 32);
  const jit = trace(true, 1e9, 32);
  assert.match(ref.lines.at(-1)!, /^hlt /);
  assert.deepEqual(jit.lines, ref.lines);
  assert.ok(jit.chains > 100, `compiled blocks ran on into others (${jit.chains} chained runs)`);
  for (const slice of [1, 7, 47, 1000]) assert.deepEqual(trace(true, slice, 32).lines, trace(false, slice, 32).lines, `slice ${slice}`);
});

test('CALL r64 chains on into its target as RET does, and ends every slice in the run loop\'s state', () => {
  const ref = trace(false, 1e9, 64, PROG_CALLR);
  const jit = trace(true, 1e9, 64, PROG_CALLR);
  assert.match(ref.lines.at(-1)!, /^hlt /);
  assert.deepEqual(jit.lines, ref.lines);
  // The whole loop chains: a run goes on until the run loop must poll, so there are few of them.
  assert.ok(jit.chains >= 1, `compiled blocks ran on into others (${jit.chains} chained runs)`);
  for (const slice of [1, 3, 7, 47, 1000]) assert.deepEqual(trace(true, slice, 64, PROG_CALLR).lines, trace(false, slice, 64, PROG_CALLR).lines, `slice ${slice}`);
});

test('CALL r64 at a block end runs inline, not through its handler (the chained run\'s tail import)', () => {
  // 0x1000: mov eax,0x1010 | call rax | 0x1007: hlt ... 0x1010: add ebx,1 | ret
  const t = makeLong64Cpu();
  const cpu = t.cpu;
  cpu.compile = true;
  load(t.mem, 0x1000, 'b810100000ffd0f4');
  load(t.mem, 0x1010, '83c301c3');
  const runOnce = (): void => {
    cpu.rip = 0x1000;
    cpu.halted = false;
    assert.equal(cpu.run(100), 'hlt');
  };
  // Twice: the code cache keeps a block the second time it is decoded (code-cache.ts put).
  runOnce();
  runOnce();
  const blk = cpu.jcBlock.find((b) => b !== undefined && b.phys === 0x1000)!;
  assert.ok(blk.exec !== null, 'compiled');
  const call = blk.insns.at(-1)!;
  assert.equal(call.row.mn, 'CALL');
  call.fn = (): void => assert.fail('CALL r64 ran its handler');
  const rsp = cpu.gpr[2 * 4]!;
  runOnce();
  assert.equal(cpu.gpr[2 * 3], 3);
  assert.equal(cpu.gpr[2 * 4], rsp, 'the return popped what the call pushed');
  assert.equal(cpu.exceptionLog.length, 0);
});

/**
 * `prog` in 64- and 32-bit code, run to its HLT: compiled and chained, the same state as block by block at the end
 * and at every end of `slices`, in fewer than `most` chained runs (`what` says what that shows).
 */
function chainsThrough(prog: string, most: number, slices: readonly number[], what: string): void {
  for (const bits of [64, 32] as const) {
    const ref = trace(false, 1e9, bits, prog);
    const jit = trace(true, 1e9, bits, prog);
    assert.match(ref.lines.at(-1)!, /^hlt /);
    assert.deepEqual(jit.lines, ref.lines, `${bits}-bit`);
    assert.ok(jit.chains < most, `${bits}-bit: ${what} (${jit.chains} chained runs)`);
    for (const slice of slices) assert.deepEqual(trace(true, slice, bits, prog).lines, trace(false, slice, bits, prog).lines, `${bits}-bit, slice ${slice}`);
  }
}

// A loop whose block has two side exits, taken in turn (ecx & 3 = 1: s1, 2: s2), and a fall-through block per
// exit: mov ecx,300 | loop: mov eax,ecx | and eax,3 | cmp eax,1 | je s1 | cmp eax,2 | je s2 | add ebx,1 |
// dec ecx | jnz loop | hlt | s1: add edx,5 | dec ecx | jnz loop | hlt | s2: add esi,7 | dec ecx | jnz loop | hlt.
// The block links one side exit; the other goes on through the jump cache by the RIP it leaves in the slot.
const PROG_SIDES = 'b92c01000089c883e00383f801740d83f802741083c301ffc975eaf483c205ffc975e2f483c607ffc975daf4';

test('a block whose side exits are taken in turn chains through each, in 64- and 32-bit code', () => {
  // ~3 000 instructions: the run loop polls every 2 048, and before that the blocks are compiled and linked;
  // a chained run that returned at every exit the block does not link would count one per pass (~150).
  chainsThrough(PROG_SIDES, 30, [1, 7, 13, 100], 'chained runs went on past unlinked side exits');
});

test('a loop whose block holds side exits loops inside its function, with its passes counted at the side exits', () => {
  // The block from loop (0x1005) ends with jnz loop: a self-loop though je s1 and je s2 lie in it. A side exit taken
  // after passes counts them (the chain driver and execBlock), at every slice end as block by block.
  for (const bits of [64, 32] as const) {
    const t = bits === 64 ? makeLong64Cpu() : makeCpu();
    const cpu = t.cpu;
    cpu.compile = true;
    if (bits === 32) {
      cpu.setFlat32();
      cpu.rip = 0x1000;
      cpu.gpr[2 * 4] = 0x8000;
    }
    load(t.mem, 0x1000, PROG_SIDES);
    assert.equal(cpu.run(1e9), 'hlt');
    const loop = cpu.jcBlock.find((b) => b !== undefined && b.phys === 0x1005)!;
    assert.equal(loop.sideExits, 2);
    assert.ok(loop.exec !== null && loop.selfLoop, `${bits}-bit: compiled as a self-loop`);
    for (const slice of [2, 3, 5, 11, 17, 1000]) assert.deepEqual(trace(true, slice, bits, PROG_SIDES).lines, trace(false, slice, bits, PROG_SIDES).lines, `${bits}-bit, slice ${slice}`);
  }
});

// A block of one instruction without an inline form (CLI, which ends its block) inside a loop: mov ecx,3000 |
// loop: cli | add eax,ecx | dec ecx | jnz loop | hlt. Compiled as a tail (the driver runs its handler), it keeps the
// loop's runs chained; left to the interpreter, every pass returned to the run loop twice.
const PROG_CLI = 'b9b80b0000fa01c8ffc975f9f4';

test('a hot block whose instructions all run by their handlers is compiled too, and chains', () => {
  chainsThrough(PROG_CLI, Infinity, [1, 7, 13, 100], 'any number');
  // ~12 000 instructions: the run loop polls every 2 048, so a handful of runs, each through the whole loop.
  for (const bits of [64, 32] as const) {
    const { chains } = trace(true, 1e9, bits, PROG_CLI);
    assert.ok(chains >= 4, `${bits}-bit: runs went on through the CLI block (${chains} chained runs)`);
  }
});

// Self-looping blocks inside chained runs: mov ecx,200 | outer: mov edi,ecx | and edi,7 | inc edi | inner: add eax,edi |
// dec edi | jnz inner (the block from outer loops from its 4th instruction on, the one from inner from its 1st) |
// add ebx,eax | test ecx,3 | jz skip | add edx,1 | skip: dec ecx | jnz outer | hlt.
const PROG_LOOPS = 'b9c800000089cf83e707ffc701f8ffcf75fa01c3f7c103000000740383c201ffc975e2f4';

test('chained runs go into and out of self-looping blocks with their passes counted, in 64- and 32-bit code', () => {
  // 4 452 instructions: 4 chained runs (polls every 2 048, and the first passes while blocks compile and link);
  // 48 when a chain ended in front of every self-loop.
  chainsThrough(PROG_LOOPS, 20, [1, 2, 3, 5, 7, 13, 100, 1000], 'chained runs went through the self-loops');
});

// REP MOVS and REP STOS end their blocks, so the driver runs them through its tail import; their iterations count
// as work (c.stringIters), which the run loop takes off the next block's limit: mov ebx,300 | loop: mov ecx,5 |
// mov edi,0x4000 | mov esi,0x5000 | rep movsb | add edx,3 | test bl,1 | jz skip | mov ecx,3 | rep stosb |
// skip: add eax,ecx | dec ebx | jnz loop | hlt.
const PROG_REP = 'bb2c010000b905000000bf00400000be00500000f3a483c203f6c3017407b903000000f3aa01c8ffcb75daf4';

test('chained runs go on past REP string instructions, with the slice ends the run loop reaches counting their iterations', () => {
  // ~3 200 instructions: a few chained runs (polls every 2 048); ~450 when every REP ended its chained run.
  chainsThrough(PROG_REP, 30, [1, 2, 3, 5, 6, 7, 13, 100, 1000], 'chained runs went on past the REPs');
});

// Indirect jumps and calls: a jump table (jmp [esi+eax*4] / jmp [rsi+rax*8]), CALL through a register and through
// memory (a function pointer), RET and RET imm16: mov ecx,300 | mov esi,table | loop: mov eax,ecx | and eax,3 |
// cmp eax,3 | je l3 | jmp [table+eax*w] | l3: mov edx,f | call edx | jmp next | c0: add ebx,1 | jmp next |
// c1: add ebx,10 | call [fptr] | jmp next | next: dec ecx | jnz loop | hlt | f: add edi,3 | ret |
// g: add edi,5 | ret 0 (32-bit; ret in 64-bit) | table: c0, c1, c2 | fptr: g | c2: add ebx,100 | jmp next.
const PROG_IND32 =
  'b92c010000be4010000089c883e00383f8037403ff2486ba34100000ffd2eb1083c301eb0b83c30aff154c100000eb004975d7f483c703c383c705c2000066902010000025100000501000003810000083c364ebdb';
const PROG_IND64 =
  'b92c010000be4010000089c883e00383f8037403ff24c6ba36100000ffd2eb1183c301eb0c83c30aff142558100000eb00ffc975d5f483c703c383c705c366902010000000000000251000000000000060100000000000003a1000000000000083c364ebcc';

test('JMP and CALL through registers and memory chain on to their targets, with the state the run loop reaches at every slice end', () => {
  for (const [bits, prog] of [[32, PROG_IND32], [64, PROG_IND64]] as const) {
    const ref = trace(false, 1e9, bits, prog);
    const jit = trace(true, 1e9, bits, prog);
    assert.match(ref.lines.at(-1)!, /^hlt /);
    assert.deepEqual(jit.lines, ref.lines, `${bits}-bit`);
    // ~2 800 instructions: a handful of chained runs (inline forms, or their handlers through the tail import).
    assert.ok(jit.chains < 30, `${bits}-bit: chained runs went on through the indirect branches (${jit.chains} chained runs)`);
    for (const slice of [1, 2, 5, 7, 13, 100]) assert.deepEqual(trace(true, slice, bits, prog).lines, trace(false, slice, bits, prog).lines, `${bits}-bit, slice ${slice}`);
  }
});

test('32-bit CALL, RET and indirect branches beyond the CS limit fault as the interpreter faults them', () => {
  // g (0x1038) beyond the limit: CALL [fptr] faults; below f (0x1034) CALL EDX does; below 0x1031 the RETs and the
  // table's jumps do too.
  for (const limit of [0x1037, 0x1033, 0x1030, 0x1022]) {
    const ref = trace(false, 1e9, 32, PROG_IND32, limit);
    assert.doesNotMatch(ref.lines.at(-1)!, /^hlt /, `limit ${limit.toString(16)}: the interpreter faults`);
    assert.deepEqual(trace(true, 1e9, 32, PROG_IND32, limit).lines, ref.lines, `limit ${limit.toString(16)}`);
  }
});

// A block that writes its own code page on every other call, reached by a chained CALL: compiled and interpreted
// runs agree at every slice end. (It does not reach the case that a Linux boot under wasm-eager did: a chained run
// ending in a block that its own write had dropped, whose instructions execBlock then read from the dropped block.)
// 0x1000: mov ecx,50 | L: call 0x2000 | dec ecx | jnz L | hlt; 0x2000: mov eax,ecx | and eax,1 | shl eax,12 |
// mov byte [rax+0x2012],0xc3 (its own RET, unchanged, or 0x3012) | add edx,1 | ret.
const PROG_SELF_PAGE = 'b932000000e8f60f0000ffc975f7f4'.padEnd(0x2000, '0') + '89c883e001c1e00cc68012200000c383c201c3';

test('a chained block that writes its own code page on every other call runs as the interpreter runs it', () => {
  const ref = trace(false, 1e9, 64, PROG_SELF_PAGE);
  const jit = trace(true, 1e9, 64, PROG_SELF_PAGE);
  assert.match(ref.lines.at(-1)!, /^hlt /);
  assert.deepEqual(jit.lines, ref.lines);
  for (const slice of [1, 3, 7, 100]) assert.deepEqual(trace(true, slice, 64, PROG_SELF_PAGE).lines, trace(false, slice, 64, PROG_SELF_PAGE).lines, `slice ${slice}`);
});
