// Boot probe: boots a Linux bzImage on emu and reports how far it got and where its time went.
// A diagnosis tool for the Debian kernel (not a test): samples the exact guest RIP every N instructions
// (cpu.rip is a signed canonical number, exact for kernel addresses), names samples with System.map,
// timestamps every serial line with the instruction count, and prints the final state.
//
//   node dist/tests/linux/boot-probe.js [--seconds 120] [--every 1000000] [--mem 512M]
//        [--cmdline '...'] [--kernel .cache/debian-kernel/vmlinuz] [--map .cache/debian-kernel/System.map]
//        [--deterministic] [--stop-on TEXT] [--quiet] [--json FILE]
//        [--kernel-decompress host|guest]  who decompresses the bzImage (default host: tsvmm)
//        [--cpuid-add fpu,fxsr,sse,sse2]   experiment: append CPUID bits to emu's table (this process only)
//        [--stack-at 4950,5150]            scan the kernel stack at these instruction counts (millions)
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildVm } from '../../src/vmm/vm-builder.js';
import { parseMem } from '../../src/vmm/config.js';
import type { RunConfig } from '../../src/vmm/config.js';
import type { EmuVm } from '../../src/cpu/emu/emu-vm.js';
import { InstructionSampler } from '../../src/vmm/profiling/sampler.js';
import type { VmStop } from '../../src/cpu/vm.js';
import { KernelSymbols, KERNEL_LOAD_PHYS } from './kernel-symbols.js';
import { EMU_CPU_FEATURES, type EmuFeature } from '../../src/features/emu-cpu-model.js';

/**
 * CPUID bits an experiment may add on top of emu's model (--cpuid-add fpu,fxsr,sse,sse2), to see how far a
 * kernel would get if emu advertised them. Diagnosis only: emu's real model stays what it implements.
 */
const EXTRA_FEATURES: Record<string, EmuFeature> = {
  fpu: { name: 'fpu', leaf: 1, subleaf: 0, reg: 'edx', bit: 0, detail: 'probe experiment' },
  fxsr: { name: 'fxsr', leaf: 1, subleaf: 0, reg: 'edx', bit: 24, detail: 'probe experiment' },
  sse: { name: 'sse', leaf: 1, subleaf: 0, reg: 'edx', bit: 25, detail: 'probe experiment' },
  sse2: { name: 'sse2', leaf: 1, subleaf: 0, reg: 'edx', bit: 26, detail: 'probe experiment' },
};

export function addCpuidExperiment(names: string[]): void {
  for (const n of names) {
    const f = EXTRA_FEATURES[n];
    if (!f) throw new RangeError(`--cpuid-add: unknown feature ${n} (known: ${Object.keys(EXTRA_FEATURES).join(', ')})`);
    // The table is readonly to TypeScript only; the emulator reads it on every CPUID.
    if (!EMU_CPU_FEATURES.some((x) => x.leaf === f.leaf && x.reg === f.reg && x.bit === f.bit)) (EMU_CPU_FEATURES as EmuFeature[]).push(f);
  }
}

export const DEFAULT_CMDLINE = 'console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1 nokaslr';

export interface ProbeOptions {
  kernel: string;
  cmdline: string;
  memBytes: number;
  seconds: number;
  every: number;
  deterministic: boolean;
  /** Scan the kernel stack at the first sample past these instruction counts (callers of a hot function). */
  stackAt?: number[];
  /** Stop the run as soon as the serial output contains this text. */
  stopOn?: string;
  symbols?: KernelSymbols;
  onSerial?: (text: string) => void;
  /** Who decompresses the bzImage (default host: tsvmm). */
  kernelDecompress?: 'guest' | 'host';
}

export interface SerialLine {
  text: string;
  insn: number;
  wallMs: number;
}

export interface ProbeResult {
  stop: VmStop;
  instructions: number;
  wallMs: number;
  mips: number;
  serial: string;
  lines: SerialLine[];
  firstByte: { insn: number; wallMs: number } | undefined;
  /** Samples named by region/function, most frequent first. */
  top: [string, number][];
  /** Per window of `windowSamples` samples, in order: the start instruction count and the top function. */
  timeline: string[];
  /** Kernel-text return-address candidates found on the stack at `stackAt`, innermost first. */
  stacks: { atInsn: number; rip: string; frames: string[] }[];
  /** The last samples in order (where the kernel ended up). */
  tail: string[];
  finalRip: string;
  exceptions: { vector: number; code: number; rip: string }[];
  /** MSR accesses emu refused (#GP in the guest): "rdmsr 0x8b" → count and the block RIP of the first. */
  refusedMsrs: { msr: string; count: number; firstAt: string }[];
  /** Decompressor samples by 64-byte bin (guest-physical), most frequent first, with the code bytes there. */
  decompressorBins: { at: number; count: number; bytes: string }[];
}

const TWO32 = 4294967296;

/** 4-level page walk (4K/2M/1G) of a signed canonical linear address; undefined when not present. */
function walk(mem: { readU64(gpa: number): bigint }, cr3: number, lin: number): number | undefined {
  const a = BigInt.asUintN(64, BigInt(lin));
  let table = BigInt(cr3) & 0xffffffffff000n;
  for (let level = 3; level >= 0; level--) {
    const idx = (a >> BigInt(12 + 9 * level)) & 0x1ffn;
    const e = mem.readU64(Number(table + idx * 8n));
    if ((e & 1n) === 0n) return undefined;
    const base = e & 0xffffffffff000n;
    if (level > 0 && level < 3 && (e & 0x80n) !== 0n) {
      const span = 1n << BigInt(12 + 9 * level);
      return Number((base & ~(span - 1n)) + (a & (span - 1n)));
    }
    if (level === 0) return Number(base + (a & 0xfffn));
    table = base;
  }
  return undefined;
}

export function hexRip(rip: number): string {
  return rip < 0 ? '0x' + BigInt.asUintN(64, BigInt(rip)).toString(16) : '0x' + rip.toString(16);
}

export async function probeBoot(o: ProbeOptions): Promise<ProbeResult> {
  const config: RunConfig = {
    kernel: o.kernel,
    initrd: undefined,
    cmdline: o.cmdline,
    memBytes: o.memBytes,
    cpus: 1,
    accel: 'emu',
    serial: { kind: 'none' },
    deterministic: o.deterministic,
    pmu: 'off',
    pmuShape: {},
    pmuFilter: undefined,
    kernelDecompress: o.kernelDecompress ?? 'host',
  };
  let serial = '';
  let pending = '';
  const lines: SerialLine[] = [];
  let firstByte: { insn: number; wallMs: number } | undefined;
  let vmRef: EmuVm | undefined;
  let t0 = 0;
  const insnNow = (): number => (vmRef ? vmRef.cpus.reduce((s, c) => s + c.instructions, 0) : 0);
  const decoder = new TextDecoder('latin1');
  const sink = {
    write(bytes: Uint8Array): void {
      const text = decoder.decode(bytes);
      const insn = insnNow();
      const wallMs = performance.now() - t0;
      if (firstByte === undefined) firstByte = { insn, wallMs };
      serial += text;
      o.onSerial?.(text);
      pending += text;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        lines.push({ text: pending.slice(0, nl).replace(/\r$/, ''), insn, wallMs });
        pending = pending.slice(nl + 1);
      }
      if (o.stopOn !== undefined && vmRef && serial.includes(o.stopOn)) vmRef.requestStop({ kind: 'host-stop', reason: `saw "${o.stopOn}"` });
    },
    close(): void {},
  };
  const built = await buildVm(config, sink);
  const vm = built.vm as EmuVm;
  vmRef = vm;
  const cpu = vm.cpus[0]!;
  const sampler = new InstructionSampler(o.every, () => cpu.rip, cpu.pmu, { keepSequence: true });
  cpu.pmu = sampler;
  const mem = built.vm.memory;
  const binBytes = new Map<number, string>();
  const origCount = sampler.countBlock.bind(sampler);
  sampler.countBlock = (plain: number, branches: number, cpl: number): void => {
    const before = sampler.ips.length;
    origCount(plain, branches, cpl);
    for (let i = before; i < sampler.ips.length; i++) {
      const ip = sampler.ips[i]!;
      if (ip < KERNEL_LOAD_PHYS || (o.symbols && !o.symbols.lookup(ip).startsWith('decompressor'))) continue;
      const bin = ip - (ip % 64);
      if (!binBytes.has(bin)) binBytes.set(bin, Buffer.from(mem.read(bin, 64)).toString('hex'));
    }
  };
  const stacks: { atInsn: number; rip: string; frames: string[] }[] = [];
  const stackAt = [...(o.stackAt ?? [])].sort((a, b) => a - b);
  const origCount2 = sampler.countBlock.bind(sampler);
  sampler.countBlock = (plain: number, branches: number, cpl: number): void => {
    const before = sampler.ips.length;
    origCount2(plain, branches, cpl);
    if (stackAt.length === 0 || sampler.ips.length === before) return;
    const insn = sampler.ips.length * o.every;
    if (insn < stackAt[0]!) return;
    stackAt.shift();
    const rsp = cpu.gpr[2 * 4 + 1]! * TWO32 + (cpu.gpr[2 * 4]! >>> 0);
    const frames: string[] = [];
    for (let k = 0; k < 256 && frames.length < 24; k++) {
      const pa = walk(mem, cpu.cr3, rsp + 8 * k);
      if (pa === undefined) break;
      const v = mem.readU64(pa);
      const signed = Number(BigInt.asIntN(64, v));
      if (signed < 0 && o.symbols) {
        const n = o.symbols.lookup(signed);
        if (!n.startsWith('?') && !n.startsWith('decompressor') && !n.startsWith('low memory') && !n.startsWith('_etext+') && !/\+0x0$/.test(n)) frames.push(n);
      }
    }
    stacks.push({ atInsn: insn, rip: `${hexRip(cpu.rip)} ${o.symbols ? o.symbols.lookup(cpu.rip) : ''}`, frames });
  };
  // Log the MSRs emu refuses (they become #GP in the guest).
  const refused = new Map<string, { count: number; firstAt: number }>();
  const note = (what: string): void => {
    const e = refused.get(what);
    if (e) e.count++;
    else refused.set(what, { count: 1, firstAt: cpu.bip });
  };
  cpu.msrRefused = (write, idx, lo, hi): void => {
    if (write) note(`wrmsr 0x${idx.toString(16)} = 0x${(hi >>> 0).toString(16)}_${(lo >>> 0).toString(16).padStart(8, '0')}`);
    else note(`rdmsr 0x${idx.toString(16)}`);
  };
  const timer = setTimeout(() => vm.requestStop({ kind: 'host-stop', reason: `probe time limit ${o.seconds} s` }), o.seconds * 1000);
  t0 = performance.now();
  let stop: VmStop;
  try {
    stop = await vm.run();
  } finally {
    clearTimeout(timer);
  }
  const wallMs = performance.now() - t0;
  const instructions = insnNow();
  if (pending) lines.push({ text: pending, insn: instructions, wallMs });
  const name = (ip: number): string => (o.symbols ? o.symbols.region(ip) : hexRip(ip));
  const counts = new Map<string, number>();
  for (const ip of sampler.ips) counts.set(name(ip), (counts.get(name(ip)) ?? 0) + 1);
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  const timeline: string[] = [];
  const W = Math.max(1, Math.round(100_000_000 / o.every));
  for (let i = 0; i < sampler.ips.length; i += W) {
    const c = new Map<string, number>();
    for (const ip of sampler.ips.slice(i, i + W)) c.set(name(ip), (c.get(name(ip)) ?? 0) + 1);
    const best = [...c.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3);
    timeline.push(`${((i * o.every) / 1e6).toFixed(0).padStart(6)}M  ${best.map(([n, k]) => `${n} ${Math.round((100 * k) / Math.min(W, sampler.ips.length - i))}%`).join(', ')}`);
  }
  const tail = sampler.ips.slice(-12).map((ip) => `${hexRip(ip)} ${o.symbols ? o.symbols.lookup(ip) : ''}`);
  const finalRip = `${hexRip(cpu.rip)} ${o.symbols ? o.symbols.lookup(cpu.rip) : ''}`;
  const exceptions = cpu.exceptionLog.slice(-20).map((e) => ({ vector: e.vector, code: e.code, rip: `${hexRip(e.rip)} ${o.symbols ? o.symbols.lookup(e.rip) : ''}` }));
  const binCounts = new Map<number, number>();
  for (const ip of sampler.ips) {
    const bin = ip - (ip % 64);
    if (binBytes.has(bin)) binCounts.set(bin, (binCounts.get(bin) ?? 0) + 1);
  }
  const decompressorBins = [...binCounts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 40).map(([at, count]) => ({ at, count, bytes: binBytes.get(at)! }));
  const refusedMsrs = [...refused.entries()].map(([msr, e]) => ({ msr, count: e.count, firstAt: `${hexRip(e.firstAt)} ${o.symbols ? o.symbols.lookup(e.firstAt) : ''}` }));
  built.devices.destroy();
  vm.destroy();
  return { stop, instructions, wallMs, mips: instructions / (wallMs * 1000), serial, lines, firstByte, top, timeline, stacks, tail, finalRip, exceptions, refusedMsrs, decompressorBins };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kernel: { type: 'string', default: '.cache/debian-kernel/vmlinuz' },
      map: { type: 'string', default: '.cache/debian-kernel/System.map' },
      cmdline: { type: 'string', default: DEFAULT_CMDLINE },
      mem: { type: 'string', default: '512M' },
      seconds: { type: 'string', default: '120' },
      every: { type: 'string', default: '1000000' },
      deterministic: { type: 'boolean', default: false },
      'stop-on': { type: 'string' },
      json: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      'cpuid-add': { type: 'string' },
      'stack-at': { type: 'string' },
      'kernel-decompress': { type: 'string', default: 'host' },
    },
  });
  if (values['cpuid-add']) addCpuidExperiment(values['cpuid-add'].split(','));
  const symbols = existsSync(values.map) ? KernelSymbols.parse(readFileSync(values.map, 'utf8')) : undefined;
  if (symbols && symbols.size < 1000) process.stderr.write(`probe: ${values.map} has only ${symbols.size} symbols (Debian's stub? run scripts/fetch-debian-kernel.mjs --symbols)\n`);
  const r = await probeBoot({
    kernel: values.kernel,
    cmdline: values.cmdline,
    memBytes: parseMem(values.mem),
    seconds: Number(values.seconds),
    every: Number(values.every),
    deterministic: values.deterministic,
    stopOn: values['stop-on'],
    stackAt: values['stack-at'] ? values['stack-at'].split(',').map((x) => Number(x) * 1e6) : undefined,
    symbols: symbols && symbols.size >= 1000 ? symbols : undefined,
    onSerial: values.quiet ? undefined : (t) => process.stdout.write(t),
    kernelDecompress: values['kernel-decompress'] === 'guest' ? 'guest' : 'host',
  });
  const M = (n: number): string => (n / 1e6).toFixed(1) + 'M';
  const out: string[] = [];
  out.push('', `probe: kernel load address 0x${KERNEL_LOAD_PHYS.toString(16)}; cmdline: ${values.cmdline}`);
  out.push(`probe: stop ${JSON.stringify(r.stop)}`);
  out.push(`probe: ${M(r.instructions)} instructions in ${(r.wallMs / 1000).toFixed(1)} s wall = ${r.mips.toFixed(1)} MIPS`);
  out.push(`probe: first serial byte at ${r.firstByte ? `${M(r.firstByte.insn)} instructions, ${(r.firstByte.wallMs / 1000).toFixed(1)} s` : 'never'}`);
  for (const l of r.lines.slice(0, 400)) out.push(`  [${M(l.insn).padStart(8)} ${(l.wallMs / 1000).toFixed(1).padStart(6)}s] ${l.text}`);
  out.push('probe: where the samples landed (region/function, samples):');
  for (const [n, c] of r.top.slice(0, 30)) out.push(`  ${String(c).padStart(7)}  ${n}`);
  out.push('probe: timeline (per 100M instructions: top functions):', ...r.timeline.map((t) => '  ' + t));
  for (const st of r.stacks) out.push(`probe: stack at ${M(st.atInsn)} (rip ${st.rip}):`, ...st.frames.map((f) => '    ' + f));
  out.push('probe: last samples:', ...r.tail.map((t) => '  ' + t));
  out.push(`probe: final rip ${r.finalRip}`);
  out.push('probe: MSR accesses emu refused (#GP):', ...r.refusedMsrs.map((m) => `  ${m.msr} x${m.count}, first in the block at ${m.firstAt}`));
  out.push('probe: last exceptions:', ...r.exceptions.map((e) => `  vector ${e.vector} code 0x${e.code.toString(16)} at ${e.rip}`));
  process.stderr.write(out.join('\n') + '\n');
  if (values.json) writeFileSync(values.json, JSON.stringify(r, null, 1));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main();
}
