// Runs a multiboot guest on the emu backend in this process (no spawn) through the VM builder of dist/,
// and reports wall time, CPU time and the instructions the interpreter retired (total and at CPL 3).
// Shared by core-loop.mjs and mips.mjs (which uses it to count the workload's guest instructions).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { root } from '../lib.mjs';

export const benchKernel = join(root, 'guests', 'build', 'bench-loop.elf');
const builderJs = join(root, 'dist', 'src', 'vmm', 'vm-builder.js');
const sinkJs = join(root, 'dist', 'src', 'devices', 'legacy', 'serial-sink.js');

/** Why the in-process emu cannot run, or undefined when it can. */
export function emuMissing() {
  if (!existsSync(builderJs)) return `${builderJs} missing: build first with npx tsc -p ${root}`;
  if (!existsSync(benchKernel)) return `${benchKernel} missing: node scripts/build-guests.mjs bench-loop`;
  return undefined;
}

/**
 * Boots `kernel` with `cmdline` on a fresh emu VM and runs it to its stop.
 * Returns { ms, cpuMs, instructions, user, output, stop }.
 */
export async function runEmuInProcess(cmdline, { kernel = benchKernel, mem = 128 * 1024 * 1024 } = {}) {
  const { buildVm } = await import(pathToFileURL(builderJs).href);
  const { BufferSerialSink } = await import(pathToFileURL(sinkJs).href);
  const sink = new BufferSerialSink();
  const config = { kernel, initrd: undefined, cmdline, memBytes: mem, cpus: 1, accel: 'emu', serial: { kind: 'none' }, deterministic: false };
  const built = await buildVm(config, sink);
  const vm = built.vm;
  const cpu0 = vm.vcpus[0];
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let stop;
  try {
    stop = await vm.run();
  } finally {
    vm.destroy();
  }
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return {
    ms,
    cpuMs: (c.user + c.system) / 1000,
    instructions: cpu0.instructions,
    user: cpu0.retired ? cpu0.retired[1] : NaN,
    output: sink.text(),
    stop,
  };
}
