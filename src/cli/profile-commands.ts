import { writeFileSync, existsSync, openSync, closeSync } from 'node:fs';
import { readInputFile } from '../vmm/input-file.js';
import type { RunConfig } from '../vmm/config.js';
import { ConfigError, parseSmallInt } from '../vmm/config.js';
import type { BuiltVm } from '../vmm/vm-builder.js';
import type { VmStop } from '../cpu/vm.js';
import type { EmuVm } from '../cpu/emu/emu-vm.js';
import { runCommand } from './run-command.js';
import { InstructionSampler } from '../vmm/profiling/sampler.js';
import { readElfSymbols, readSymbolMap, Symbolizer, SymbolError, type GuestSymbol } from '../vmm/profiling/elf-symbols.js';
import { bzImageSymbols, isBzImage } from '../vmm/profiling/kallsyms.js';

function emuOf(built: BuiltVm, command: string): EmuVm {
  if (built.backend !== 'emu') throw new ConfigError(`tsvmm ${command} counts guest events on the emulator: use --accel emu or auto`);
  return built.vm as EmuVm;
}

function requireEmu(config: RunConfig, command: string): RunConfig {
  if (config.accel === 'kvm') throw new ConfigError(`tsvmm ${command} needs the emulator's exact counters: drop --accel kvm (it runs on --accel emu)`);
  return { ...config, accel: 'emu' };
}

const num = (n: number): string => Math.round(n).toLocaleString('en-US');
const pct = (part: number, whole: number): string => (whole > 0 ? ((100 * part) / whole).toFixed(1) : '0.0') + '%';

/** `tsvmm stat -- <run options>`: like `perf stat` for the whole guest. */
export async function statCommand(config: RunConfig, opts: { json: boolean; verbose: boolean }): Promise<number> {
  return runCommand(requireEmu(config, 'stat'), {
    verbose: opts.verbose,
    observer: {
      attach(built) {
        emuOf(built, 'stat');
      },
      report(built: BuiltVm, stop: VmStop, wallMs: number) {
        const vm = emuOf(built, 'stat');
        let kInsn = 0;
        let uInsn = 0;
        let kBr = 0;
        let uBr = 0;
        for (const c of vm.cpus) {
          kInsn += c.retired[0]!;
          uInsn += c.retired[1]!;
          kBr += c.branchesRetired[0]!;
          uBr += c.branchesRetired[1]!;
        }
        const insn = kInsn + uInsn;
        const exits = Object.entries(vm.exitCounts()).filter(([k, v]) => k !== 'instructions' && v > 0);
        const virtualNs = vm.clock.nowNs();
        const unimplemented = Object.entries(vm.unimplementedCounts()).sort((a, b) => b[1] - a[1]);
        const result = {
          guest: built.kernelPath,
          vcpus: vm.cpus.length,
          stop: stop.kind,
          instructions: { total: insn, user: uInsn, kernel: kInsn },
          branches: { total: kBr + uBr, user: uBr, kernel: kBr },
          cycles: { total: insn, model: 'one cycle per retired instruction (the emulator cycle model; TSC 1 GHz in --deterministic mode)' },
          exits: Object.fromEntries(exits),
          unimplemented: Object.fromEntries(unimplemented),
          wallMs,
          virtualNs,
          mips: insn / (wallMs * 1000),
        };
        if (opts.json) {
          process.stderr.write(JSON.stringify(result, null, 2) + '\n');
          return;
        }
        const L = (value: string, name: string, note = ''): string => `${value.padStart(18)}  ${name.padEnd(22)}${note ? ' # ' + note : ''}`;
        const lines = [
          '',
          ` Guest event counts for ${built.kernelPath} (emu, ${vm.cpus.length} vCPU${vm.cpus.length > 1 ? 's' : ''}, stopped by ${stop.kind}):`,
          '',
          L(num(insn), 'instructions', `user ${num(uInsn)} (${pct(uInsn, insn)}), kernel ${num(kInsn)} (${pct(kInsn, insn)})`),
          L(num(kBr + uBr), 'branches', `user ${num(uBr)}, kernel ${num(kBr)}; ${pct(kBr + uBr, insn)} of instructions`),
          L(num(insn), 'cycles', '1 cycle per instruction (emulator cycle model), IPC 1.00'),
          L(num(exits.reduce((s, [, v]) => s + v, 0)), 'vm exits/events'),
          ...exits.map(([k, v]) => L(num(v), '  ' + k)),
          ...(unimplemented.length === 0
            ? []
            : [L(num(unimplemented.reduce((s, [, v]) => s + v, 0)), 'unimplemented (#UD)', 'instructions emu does not implement, by name'), ...unimplemented.map(([k, v]) => L(num(v), '  ' + k))]),
          '',
          L((wallMs / 1000).toFixed(3), 'seconds wall time', `${(insn / (wallMs * 1000)).toFixed(1)} MIPS`),
          L((virtualNs / 1e9).toFixed(6), 'seconds guest time', 'virtual clock'),
          '',
        ];
        process.stderr.write(lines.join('\n') + '\n');
      },
    },
  });
}

/** The symbols in `path`, by what it holds: a Linux bzImage (its kallsyms), an ELF (.symtab), else nm/System.map text. */
function readSymbols(path: string): GuestSymbol[] {
  const bytes = readInputFile(path, 'symbols', { bytes: 1024 ** 3, why: 'a symbol file may be' });
  if (isBzImage(bytes)) {
    try {
      return bzImageSymbols(bytes);
    } catch (e) {
      throw new SymbolError(`${path}: no kallsyms table could be read from this bzImage (${(e as Error).message})`);
    }
  }
  const isElf = bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
  return isElf ? readElfSymbols(bytes, path) : readSymbolMap(new TextDecoder('latin1').decode(bytes), path);
}

/** Reads --symbols FILE: a bzImage, an ELF image with a symbol table, or nm / System.map text. */
function symbolsFile(path: string): Symbolizer {
  const syms = readSymbols(path);
  if (syms.length === 0) throw new ConfigError(`--symbols ${path}: the ELF file has no symbol table`);
  return new Symbolizer(syms);
}

/**
 * Symbols for the guest image: a sibling NAME.elf64 (the unrelabelled 64-bit link) if present, else the
 * image's own symbol table, or for a Linux bzImage the kallsyms table inside its compressed kernel.
 */
function guestSymbols(kernelPath: string): Symbolizer {
  for (const path of [kernelPath + '64', kernelPath]) {
    if (!existsSync(path)) continue;
    try {
      const syms = readSymbols(path);
      if (syms.length > 0) return new Symbolizer(syms);
    } catch {
      // no symbols there (a raw binary, a kernel without kallsyms): fall through to raw addresses
    }
  }
  return new Symbolizer([]);
}

export const RECORD_OPTIONS = {
  every: { type: 'string', value: 'N' },
  output: { type: 'string', short: 'o', value: 'FILE' },
  top: { type: 'string', value: 'N' },
  symbols: { type: 'string', value: 'FILE' },
} as const;

export interface RecordOptions {
  readonly every: number;
  readonly output: string;
  readonly top: number;
  /** Where names come from instead of the guest image (e.g. a Linux System.map for a bzImage). */
  readonly symbols?: string;
}

/** Validates record's own options (before anything runs). */
export function recordOptions(values: Record<string, string | boolean | undefined>): RecordOptions {
  const text = (k: string, dflt: string): string => (typeof values[k] === 'string' ? (values[k] as string) : dflt);
  const output = text('output', 'tsvmm.folded');
  if (output === '') throw new ConfigError('-o needs a file name');
  return {
    every: parseSmallInt('--every', text('every', '10000'), 1, 1e12),
    output,
    top: parseSmallInt('--top', text('top', '15'), 1, 1_000_000),
    ...(typeof values['symbols'] === 'string' ? { symbols: values['symbols'] } : {}),
  };
}

/** Opens record's output before the guest runs, so a bad path is told at once and not after the run. */
function openOutput(path: string): number {
  try {
    return openSync(path, 'w');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    const why = code === 'ENOENT' ? 'its directory does not exist' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : code || (e as Error).message;
    throw new ConfigError(`-o ${path}: cannot write the folded stacks there (${why})`);
  }
}

/** `tsvmm record --every N -- <run options>`: samples the guest IP every N instructions. */
export async function recordCommand(config: RunConfig, options: RecordOptions, opts: { verbose: boolean }): Promise<number> {
  const emuConfig = requireEmu(config, 'record');
  // Read before the guest runs, so a bad file is told at once.
  const symbols = options.symbols !== undefined ? symbolsFile(options.symbols) : undefined;
  const fd = openOutput(options.output);
  try {
    return await recordRun(emuConfig, fd, options, symbols, opts);
  } finally {
    closeSync(fd);
  }
}

async function recordRun(config: RunConfig, fd: number, { every, output, top, symbols: symbolsPath }: RecordOptions, symbols: Symbolizer | undefined, opts: { verbose: boolean }): Promise<number> {
  const samplers: InstructionSampler[] = [];
  return runCommand(config, {
    verbose: opts.verbose,
    observer: {
      attach(built) {
        const vm = emuOf(built, 'record');
        for (const cpu of vm.cpus) {
          const s = new InstructionSampler(every, () => cpu.rip, cpu.pmu);
          cpu.pmu = s;
          samplers.push(s);
        }
      },
      report(built) {
        const sym = symbols ?? guestSymbols(built.kernelPath);
        const counts = new Map<string, { n: number; user: number }>();
        let total = 0;
        const add = (name: string, n: number, user: boolean): void => {
          const e = counts.get(name) ?? { n: 0, user: 0 };
          e.n += n;
          if (user) e.user += n;
          counts.set(name, e);
          total += n;
        };
        for (const s of samplers) {
          for (const [map, user] of [[s.kernelCounts, false], [s.userCounts, true]] as const) {
            map.forEach((n, ip) => add(sym.size ? sym.lookup(ip) : `0x${BigInt.asUintN(64, BigInt(ip)).toString(16)}`, n, user));
          }
          if (s.uncounted > 0) add('[addresses past the sampler limit]', s.uncounted, false);
        }
        const sorted = [...counts.entries()].sort((a, b) => b[1].n - a[1].n);
        const folded = sorted.map(([name, e]) => {
          const lines: string[] = [];
          if (e.user) lines.push(`guest;user;${name} ${e.user}`);
          if (e.n - e.user) lines.push(`guest;kernel;${name} ${e.n - e.user}`);
          return lines.join('\n');
        });
        writeFileSync(fd, folded.join('\n') + '\n');
        const out = ['', ` ${num(total)} samples, one every ${num(every)} instructions, ${sym.size} symbols from ${symbolsPath ?? built.kernelPath}`, '', `  ${'samples'.padStart(9)}  ${'share'.padStart(6)}  ${'user'.padStart(6)}  function`];
        for (const [name, e] of sorted.slice(0, top)) out.push(`  ${num(e.n).padStart(9)}  ${pct(e.n, total).padStart(6)}  ${pct(e.user, e.n).padStart(6)}  ${name}`);
        out.push('', ` folded stacks written to ${output} (flamegraph.pl / speedscope / inferno)`, '');
        process.stderr.write(out.join('\n') + '\n');
      },
    },
  });
}
