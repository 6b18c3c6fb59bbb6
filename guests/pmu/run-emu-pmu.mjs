#!/usr/bin/env node
// Stand-in for the missing emu PMU wiring, so the PMU guests can be checked before it lands:
// runs `tsvmm <args>` in-process after attaching a VirtualPmu (from --pmu-version/--pmu-counters/
// --pmu-fixed/--pmu-filter) to every vCPU of each EmuVm, wiring onPmi to that vCPU's local APIC
// (LVTPC), CPUID.0AH from cpuidLeaf0a, and CPUID.01H:ECX.PDCM[15] (IA32_PERF_CAPABILITIES exists
// only with PDCM). This is what createEmuVm should do itself once it accepts a PMU config; delete
// this file then. Needs a built dist/ (npx tsc -p .).
//
// usage: node guests/pmu/run-emu-pmu.mjs run --kernel guests/build/pmu-exact.elf --accel emu --pmu on [...]
import { readFileSync } from 'node:fs';
import { EmuVm } from '../../dist/src/cpu/emu/emu-vm.js';
import { EmuCpu } from '../../dist/src/cpu/emu/cpu.js';
import { VirtualPmu, resolvePmuConfig, cpuidLeaf0a, loadPmuFilterJson } from '../../dist/src/pmu/index.js';
import { main } from '../../dist/src/cli/main.js';

const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const mode = opt('pmu') ?? 'auto';
const shape = {};
if (opt('pmu-version') !== undefined) shape.version = Number(opt('pmu-version'));
if (opt('pmu-counters') !== undefined) shape.gpCounters = Number(opt('pmu-counters'));
if (opt('pmu-fixed') !== undefined) shape.fixedCounters = Number(opt('pmu-fixed'));
const config = mode === 'off' ? resolvePmuConfig({ version: 0 }) : resolvePmuConfig(shape);
const filterPath = opt('pmu-filter');
const filter = filterPath !== undefined ? loadPmuFilterJson(readFileSync(filterPath, 'utf8'), filterPath) : null;
const leaf = cpuidLeaf0a(config);

const run = EmuVm.prototype.run;
EmuVm.prototype.run = function patchedRun() {
  if (!this.__pmuAttached) {
    this.__pmuAttached = true;
    this.cpus.forEach((cpu, i) => {
      const apic = this.chips.localApic(i);
      cpu.pmu = new VirtualPmu(config, { onPmi: () => apic.raisePmi(), filter });
      cpu.pmuCpuid0a = [leaf.eax | 0, leaf.ebx | 0, leaf.ecx | 0, leaf.edx | 0];
    });
  }
  return run.call(this);
};
const cpuid = EmuCpu.prototype.cpuid;
EmuCpu.prototype.cpuid = function patchedCpuid() {
  const leafIn = this.rl[0];
  cpuid.call(this);
  if (leafIn === 1 && this.pmu !== null && config.version > 0) this.rl[1] |= 1 << 15; // ECX.PDCM
};

main(argv).then((code) => {
  process.exitCode = code;
});
