// The decoder's speed on real code: decodes the Debian kernel's .text (64-bit) and the realcode guests' .text
// (32-bit and 64-bit) block by block as the run loop's lookups do (decoder.ts decodeBlock, each block starting
// where the one before it ended), and prints ns (of this thread's CPU time) per instruction decoded: the first pass (V8 not warmed for the
// decoder, in a process of its own per corpus) and the steady state (the median of the passes after a warm-up).
//   node bench/emu/decode.mjs [--corpus kernel,realcode32,realcode64] [--passes 7] [--kernel-mb 4] [--builds DIR,DIR] [--rounds 3]
//     [--cold-blocks 2000] [--evict-mb 4]: also times that many blocks decoded each after a walk over 4 MiB (host caches evicted)
//   npm run bench -- decode [--builds /tmp/A,/tmp/B]
//   node bench/emu/decode.mjs --compare DIR [--corpus ...] [--kernel-mb 64]: decodes with this build and the build in DIR
//   and compares every field of every block and instruction (a change to the decoder must leave them all equal).
// --builds: directories each holding a build (dist/; a frozen copy for A/B: cp -r dist package.json DIR); runs are
// interleaved A, B, A, B per corpus and round, the first build is the ratio's baseline. The load is printed per run.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchArgs, median, root } from '../lib.mjs';

const { values: o } = benchArgs('bench/emu/decode.mjs', {
  options: {
    corpus: { type: 'string', default: 'kernel,realcode32,realcode64' },
    passes: { type: 'string', default: '7' },
    'kernel-mb': { type: 'string', default: '4' },
    'cold-blocks': { type: 'string', default: '2000' },
    'evict-mb': { type: 'string', default: '4' },
    builds: { type: 'string', default: root },
    rounds: { type: 'string', default: '1' },
    compare: { type: 'string' },
    one: { type: 'string' },
    build: { type: 'string' },
  },
});
function fail(msg) {
  console.error(`decode: ${msg}`);
  process.exit(2);
}
const passes = Number(o.passes);
if (!Number.isInteger(passes) || passes < 2 || passes > 100) fail(`--passes ${o.passes}: 2 to 100 (the first is the cold one)`);
const kernelBytes = Math.round(Number(o['kernel-mb']) * (1 << 20));
if (!(kernelBytes > 0)) fail(`--kernel-mb ${o['kernel-mb']}: a positive number of MiB of the kernel's .text`);
const coldBlocks = Number(o['cold-blocks']);
if (!Number.isInteger(coldBlocks) || coldBlocks < 1) fail(`--cold-blocks ${o['cold-blocks']}: how many blocks to decode with the host's caches evicted first`);
const evictMb = Number(o['evict-mb']);
if (!Number.isInteger(evictMb) || evictMb < 1 || evictMb > 1024) fail(`--evict-mb ${o['evict-mb']}: MiB to walk before each cold decode, 1 to 1024`);
const rounds = Number(o.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) fail(`--rounds ${o.rounds}: 1 to 20`);
const CORPORA = ['kernel', 'realcode32', 'realcode64'];

/** The bytes of section `name` of an ELF file (ELF32 or ELF64), read with the project's own section reader. */
function elfSection(elfSections, elf, file, name) {
  const s = elfSections(elf).get(name);
  if (s === undefined) throw new Error(`${file}: no ${name} section`);
  return elf.subarray(s.offset, s.offset + s.size);
}

/**
 * The text to decode and its mode (1: 32-bit, 2: 64-bit). The corpus is the same for every build compared, so it is
 * read with this checkout's build.
 */
async function corpusText(name) {
  const { elfSections, vmlinuxOf } = await import(pathToFileURL(join(root, 'dist/src/vmm/profiling/kallsyms.js')).href);
  const guest = (file) => elfSection(elfSections, readFileSync(join(root, 'guests/build', file)), file, '.text');
  if (name === 'realcode32') return { text: guest('realcode.elf'), mode: 1 };
  // The 64-bit build's .text starts with a short 32-bit entry stub, decoded as 64-bit code here all the same.
  if (name === 'realcode64') return { text: guest('realcode64.elf'), mode: 2 };
  const text = elfSection(elfSections, vmlinuxOf(readFileSync(join(root, '.cache/debian-kernel/vmlinuz'))), 'the kernel', '.text');
  return { text: text.subarray(0, Math.min(text.length, kernelBytes)), mode: 2 };
}

/** CPU time of this thread (ns): timings are not the host's load, only what this thread ran. */
function threadNs() {
  return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
}

/** A vCPU over `text` placed at TEXT in `mode`, from build `dir`, and its decodeBlock. */
async function decoderOver(dir, text, mode) {
  const imp = (p) => import(pathToFileURL(join(dir, 'dist/src', p)).href);
  const [{ EmuCpu }, { GuestMemory }, { Bus }, { decodeBlock, decodeInsn }] = await Promise.all([
    imp('cpu/emu/cpu.js'),
    imp('memory/guest-memory.js'),
    imp('cpu/bus.js'),
    imp('cpu/emu/decoder.js'),
  ]);
  const TEXT = 0x1000000;
  const size = TEXT + ((text.length + 0x200fff) & ~0xfff);
  const mem = new GuestMemory([{ name: 'ram', gpa: 0, size, bytes: new Uint8Array(size) }]);
  mem.regions[0].bytes.set(text, TEXT);
  const cpu = new EmuCpu({ memory: mem, pio: new Bus('pio'), mmio: new Bus('mmio') });
  if (mode === 2) {
    // Identity map of the first 1 GiB in 2 MiB pages (a page-crossing first instruction translates its next page).
    mem.writeU32(0x1000, 0x2003);
    mem.writeU32(0x2000, 0x3003);
    for (let i = 0; i < 512; i++) mem.writeU32(0x3000 + i * 8, ((i << 21) | 0x83) >>> 0);
    cpu.setLong64(0x1000);
  } else cpu.setFlat32();
  decodeInsn(new Uint8Array([0x90]), mode); // builds the dispatch arrays: the passes time decoding only
  return { cpu, decodeBlock, TEXT, end: TEXT + text.length };
}

/** One corpus in this process: the first pass (cold) and the rest, as JSON on stdout. */
async function runOne(dir, name) {
  const { text, mode } = await corpusText(name);
  const { cpu, decodeBlock, TEXT, end } = await decoderOver(dir, text, mode);
  const pass = (walks) => {
    let insns = 0;
    let blocks = 0;
    const t0 = threadNs();
    for (let w = 0; w < walks; w++) {
      for (let pa = TEXT; pa < end; ) {
        const b = decodeBlock(cpu, pa, pa);
        insns += b.insns.length;
        blocks++;
        pa += b.len;
      }
    }
    return { ns: threadNs() - t0, insns: insns / walks, blocks: blocks / walks, walks };
  };
  const runs = [pass(1)];
  // Each later pass walks a small text several times over, so that it decodes at least ~300 k instructions.
  const walks = Math.max(1, Math.ceil(300000 / runs[0].insns));
  for (let p = 1; p < passes; p++) runs.push(pass(walks));
  const first = runs[0];
  // Steady state: the passes after the first two (the second still runs code V8 is optimising).
  const warm = runs.slice(Math.min(2, runs.length - 1)).map((r) => r.ns / (r.insns * r.walks));
  // Cold host caches, as in a boot where the decoder runs between stretches of other work: before each of a
  // sample of blocks, a walk over --evict-mb MiB (4: past this host's 1 MiB L2, within its L3) evicts the
  // host's nearer caches (data and code); only the decode is timed.
  const starts = [];
  for (let pa = TEXT; pa < end; ) {
    starts.push(pa);
    pa += decodeBlock(cpu, pa, pa).len;
  }
  const evict = new Int32Array(evictMb << 18);
  let sink = 0;
  const step = Math.max(1, Math.floor(starts.length / coldBlocks));
  // Each decode timed on its own (wall clock: the walks cost far more CPU than the decodes, so no difference of CPU
  // times would show them); a decode longer than 200 us was preempted and is left out.
  let coldNs = 0;
  let coldInsns = 0;
  for (let k = 0; k < starts.length; k += step) {
    for (let i = k & 15; i < evict.length; i += 16) sink += evict[i];
    const t0 = process.hrtime.bigint();
    const n = decodeBlock(cpu, starts[k], starts[k]).insns.length;
    const dt = Number(process.hrtime.bigint() - t0);
    if (dt > 200000) continue;
    coldNs += dt;
    coldInsns += n;
  }
  if (sink !== 0) throw new Error('unreachable');
  console.log(JSON.stringify({ name, bytes: text.length, insns: first.insns, blocks: first.blocks, firstNs: first.ns / first.insns, warmNs: median(warm), warmAll: warm.map((x) => +x.toFixed(1)), coldNs: coldNs / coldInsns }));
}

/** A field of an Insn or Block as compared: handlers by name, rows by mnemonic and encoding, the next insn by index. */
function fieldValue(k, v) {
  if (typeof v === 'function') return `fn:${v.name}`;
  if (k === 'row') return `${v.mn}|${v.enc}|${v.map}|${v.op}`;
  if (k === 'nx') return v === null ? -1 : v.idx;
  if (k === 'insns' || k === 'first' || k === 'next0' || k === 'next1' || k === 'wl' || k === 'exec' || k === 'region') return undefined;
  return v;
}

/** Decodes each corpus with this build and build `other`, block by block, and compares every field of every block and Insn. */
async function compare(other, names) {
  let bad = 0;
  for (const name of names) {
    const { text, mode } = await corpusText(name);
    const a = await decoderOver(other, text, mode);
    const b = await decoderOver(root, text, mode);
    let insns = 0;
    let blocks = 0;
    for (let pa = a.TEXT; pa < a.end; ) {
      const ba = a.decodeBlock(a.cpu, pa, pa);
      const bb = b.decodeBlock(b.cpu, pa, pa);
      const pairs = [[ba, bb, `block at +${pa - a.TEXT}`], ...ba.insns.map((x, i) => [x, bb.insns[i], `insn ${i} of the block at +${pa - a.TEXT}`])];
      if (ba.insns.length !== bb.insns.length) pairs.push([{ n: ba.insns.length }, { n: bb.insns.length }, `block at +${pa - a.TEXT}`]);
      for (const [xa, xb, where] of pairs) {
        for (const k of new Set([...Object.keys(xa), ...Object.keys(xb ?? {})])) {
          const va = fieldValue(k, xa[k]);
          const vb = xb === undefined ? '(none)' : fieldValue(k, xb[k]);
          if (va !== vb && bad++ < 20) console.log(`${name}: ${where}: ${k} ${va} here ${vb}`);
        }
      }
      insns += ba.insns.length;
      blocks++;
      pa += ba.len;
    }
    console.log(`${name}: ${insns} instructions in ${blocks} blocks compared field by field with ${other}`);
  }
  console.log(bad === 0 ? 'decode: every field equal' : `decode: ${bad} fields differ`);
  process.exit(bad === 0 ? 0 : 1);
}

if (o.compare !== undefined) await compare(resolve(o.compare), o.corpus.split(',').filter(Boolean));

if (o.one !== undefined) {
  await runOne(resolve(o.build ?? root), o.one);
  process.exit(0);
}

const corpora = o.corpus.split(',').filter(Boolean);
for (const c of corpora) if (!CORPORA.includes(c)) fail(`--corpus: ${c} is none of ${CORPORA.join(', ')}`);
if (corpora.includes('kernel') && !existsSync(join(root, '.cache/debian-kernel/vmlinuz'))) fail('.cache/debian-kernel/vmlinuz missing: node scripts/fetch-debian-kernel.mjs');
for (const [c, f] of [['realcode32', 'realcode.elf'], ['realcode64', 'realcode64.elf']]) {
  if (corpora.includes(c) && !existsSync(join(root, 'guests/build', f))) fail(`guests/build/${f} missing: npm run guests`);
}
const builds = o.builds.split(',').map((d) => resolve(d));
for (const b of builds) if (!existsSync(join(b, 'dist/src/cpu/emu/decoder.js'))) fail(`${b} has no dist/src/cpu/emu/decoder.js (npm run build there)`);

const results = new Map(); // `${build}\n${corpus}` -> runs
for (let r = 0; r < rounds; r++) {
  for (const c of corpora) {
    for (const b of builds) {
      const load = loadavg()[0].toFixed(2);
      const p = spawnSync(process.execPath, [join(root, 'bench/emu/decode.mjs'), '--one', c, '--build', b, '--passes', String(passes), '--kernel-mb', String(o['kernel-mb']), '--cold-blocks', String(coldBlocks), '--evict-mb', String(evictMb)], { encoding: 'utf8' });
      if (p.status !== 0) fail(`${c} with ${b} failed:\n${p.stderr}`);
      const res = JSON.parse(p.stdout.trim().split('\n').pop());
      const key = `${b}\n${c}`;
      if (!results.has(key)) results.set(key, []);
      results.get(key).push(res);
      const label = builds.length > 1 ? `${String.fromCharCode(65 + builds.indexOf(b))} ` : '';
      console.log(`${label}${c.padEnd(10)} ${res.insns} insns in ${res.blocks} blocks (${(res.bytes / 1024).toFixed(0)} KiB): first pass ${res.firstNs.toFixed(0)} ns/insn, warm ${res.warmNs.toFixed(0)} ns/insn (${(1e3 / res.warmNs).toFixed(1)} M insns/s; passes ${res.warmAll.join(' ')}), caches evicted ${res.coldNs.toFixed(0)} ns/insn, load ${load}`);
    }
  }
}
if (rounds > 1 || builds.length > 1) {
  console.log('\nmedians over rounds (ns per instruction decoded):');
  for (const c of corpora) {
    const base = results.get(`${builds[0]}\n${c}`);
    for (const b of builds) {
      const rs = results.get(`${b}\n${c}`);
      const first = median(rs.map((x) => x.firstNs));
      const warm = median(rs.map((x) => x.warmNs));
      const cold = median(rs.map((x) => x.coldNs));
      const ratio = b === builds[0] ? '' : `  (x${(warm / median(base.map((x) => x.warmNs))).toFixed(2)} warm, x${(first / median(base.map((x) => x.firstNs))).toFixed(2)} first, x${(cold / median(base.map((x) => x.coldNs))).toFixed(2)} evicted)`;
      console.log(`${c.padEnd(10)} ${b}: first ${first.toFixed(0)}, warm ${warm.toFixed(0)}, caches evicted ${cold.toFixed(0)}${ratio}`);
    }
  }
}
