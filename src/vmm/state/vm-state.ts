/**
 * A whole VM as a machine state and back: the feature manifest, the machine settings a
 * destination rebuilds the VM from, the backend's sections (vCPUs, chips, PMU), the devices and
 * guest RAM. Snapshots (snapshot.ts) write this to a file; live migration (migration.ts) sends
 * the same sections over a socket, RAM first in rounds.
 *
 * Restore = build a VM of the saved machine with the saved feature set as its CPU model, refuse
 * if its manifest differs in anything guest-visible (naming every difference), check every
 * section, and only then load RAM, devices and the backend state.
 */
import { randomUUID } from 'node:crypto';
import type { BackendState } from '../../cpu/vm.js';
import type { MemoryRegion } from '../../memory/guest-memory.js';
import { diffManifests } from '../../features/manifest-compare.js';
import { loadManifest, type FeatureManifest } from '../../features/manifest.js';
import { field, PersistError, type FieldsOf, type PersistSection } from '../../util/persist.js';
import { ControllerError } from '../controller-types.js';
import type { RunConfig } from '../config.js';
import type { SerialSink } from '../../devices/legacy/serial-sink.js';
import { assembleVm, type AssembledVm, type BuiltVm } from '../vm-builder.js';
import { builtVmManifest, vmManifest } from '../vm-manifest.js';
import { prepareDeviceRestore, saveDevices } from './device-state.js';
import { isRawSection, MachineState, StateFileError, type RawSection, type StateSection } from './machine-state.js';
import { applyRamPatch, checkRamSection, encodeRamPages, pagesToSave, ramSectionName, type RamPatch } from './ram-state.js';

export const MACHINE_SCHEMA = {
  kind: 'tsvmm-machine',
  version: 1,
  fields: {
    /** This state's id; a diff names the state it applies to by id. */
    id: field.string(64),
    /** '' for a full state; for a diff, the id of the state it applies on top of. */
    parentId: field.string(64),
    /** Where the parent was written (a diff snapshot loads it first). */
    parentPath: field.string(4096),
    backend: field.string(8),
    cpus: field.int(1, 1024),
    memBytes: field.number(),
    deterministic: field.bool(),
    cmdline: field.string(65536),
  },
} as const;
export type MachineFields = FieldsOf<typeof MACHINE_SCHEMA.fields>;

const MANIFEST_SCHEMA = { kind: 'feature-manifest', version: 1, fields: { json: field.string(16 * 1024 * 1024) } } as const;

export function manifestSection(m: FeatureManifest): PersistSection {
  return { name: 'manifest', kind: MANIFEST_SCHEMA.kind, version: MANIFEST_SCHEMA.version, fields: { json: JSON.stringify(m) } };
}

export function machineSection(f: MachineFields): PersistSection {
  return { name: 'machine', kind: MACHINE_SCHEMA.kind, version: MACHINE_SCHEMA.version, fields: f };
}

export function newStateId(): string {
  return randomUUID();
}

/** The manifest a state or stream starts with; a StateFileError names what is wrong. */
export function readManifest(s: StateSection | undefined, source: string): FeatureManifest {
  if (s === undefined || isRawSection(s) || s.kind !== MANIFEST_SCHEMA.kind || typeof s.fields['json'] !== 'string') throw new StateFileError(`${source}: no feature manifest section (not a tsvmm VM state?)`);
  try {
    return loadManifest(s.fields['json'], `${source}: manifest`);
  } catch (e) {
    throw new StateFileError((e as Error).message);
  }
}

export function readMachine(s: StateSection | undefined, source: string): MachineFields {
  if (s === undefined || isRawSection(s)) throw new StateFileError(`${source}: no machine section`);
  if (s.kind !== MACHINE_SCHEMA.kind) throw new StateFileError(`${source}: section machine holds ${s.kind}`);
  if (s.version !== MACHINE_SCHEMA.version) throw new StateFileError(`${source}: machine section version ${s.version} is not supported (this tsvmm reads version ${MACHINE_SCHEMA.version})`);
  const f = s.fields;
  const str = (k: string, max: number): string => {
    const v = f[k];
    if (typeof v !== 'string' || v.length > max) throw new StateFileError(`${source}: machine.${k} is missing or not a string`);
    return v;
  };
  const num = (k: string): number => {
    const v = f[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new StateFileError(`${source}: machine.${k} is missing or not a whole number`);
    return v;
  };
  const backend = str('backend', 8);
  if (backend !== 'emu' && backend !== 'kvm') throw new StateFileError(`${source}: machine.backend "${backend}" is neither emu nor kvm`);
  if (typeof f['deterministic'] !== 'boolean') throw new StateFileError(`${source}: machine.deterministic is missing`);
  return { id: str('id', 64), parentId: str('parentId', 64), parentPath: str('parentPath', 4096), backend, cpus: num('cpus'), memBytes: num('memBytes'), deterministic: f['deterministic'], cmdline: str('cmdline', 65536) };
}

/** The sections every state holds besides RAM: the backend's and the devices'. */
export function vmSections(built: AssembledVm): PersistSection[] {
  const vm = built.vm;
  if (vm.saveState === undefined) throw new ControllerError('not-supported', `the ${built.backend} backend cannot save its state`);
  const backend = vm.saveState();
  return [...backend.sections, ...saveDevices(built.devices)];
}

/** RAM sections of a full state: every region's written pages. */
export function fullRamSections(built: AssembledVm): RawSection[] {
  const mem = built.vm.memory;
  return mem.regions.map((r) => encodeRamPages(r, pagesToSave(mem, r)));
}

/** The manifest of a running VM, and the machine settings of its state. */
export async function describeVm(built: BuiltVm | AssembledVm, config: RunConfig, id: string, parent: { id: string; path: string } | undefined): Promise<{ manifest: FeatureManifest; machine: MachineFields }> {
  const manifest = await builtVmManifest(built, config);
  return {
    manifest,
    machine: { id, parentId: parent?.id ?? '', parentPath: parent?.path ?? '', backend: built.backend, cpus: config.cpus, memBytes: config.memBytes, deterministic: config.deterministic, cmdline: config.cmdline },
  };
}

/** The configuration a destination builds the VM of a state from (the host-side settings, such as serial output, from `base`). */
export function restoreConfig(base: RunConfig, machine: MachineFields, manifest: FeatureManifest): RunConfig {
  return {
    ...base,
    kernel: undefined,
    initrd: undefined,
    cmdline: machine.cmdline,
    memBytes: machine.memBytes,
    cpus: machine.cpus,
    // The destination engine: the one asked for, else the one the state was saved on.
    accel: base.accel === 'auto' ? (machine.backend as 'emu' | 'kvm') : base.accel,
    deterministic: machine.deterministic,
    pmu: manifest.pmu.version > 0 ? 'on' : 'off',
    pmuShape: {},
    pmuFilter: undefined,
    cpuModel: undefined,
    cpuModelManifest: manifest,
  };
}

/**
 * Builds the VM a state describes and checks it can be exactly that VM: its manifest must equal
 * the saved one (diffManifests, strict); otherwise it is destroyed and the error lists every
 * difference by name. The VM has not run. `savedOn` (the engine that saved the state) lets a
 * refusal say when the state crosses engines.
 */
export async function assembleFor(config: RunConfig, saved: FeatureManifest, serial: SerialSink, source: string, savedOn?: string): Promise<AssembledVm> {
  let a: AssembledVm;
  const from = savedOn ?? saved.origin.backend;
  const cross = from !== undefined && from !== config.accel ? ` (saved on ${from}, restored on ${config.accel})` : '';
  // Between engines only a CPU model both give makes the feature sets agree: say how to get one.
  const hint = cross ? `; a snapshot moves between engines when the VM ran under a CPU model both engines give: tsvmm run --cpu-model FILE with FILE from tsvmm caps --baseline of both engines' tsvmm caps --json` : '';
  try {
    a = await assembleVm(config, serial);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const where = from === undefined ? '' : ` (saved on ${from})`;
    throw new ControllerError('no-backend', `${source}${cross || where}: this host cannot build the saved VM: ${msg}${hint}`, { cause: e });
  }
  try {
    // The manifest's own filter decides the PMU filter (restoreConfig gives the VM the manifest as its model).
    const here = vmManifest(a.vm, { backend: a.backend, platformDevices: a.platformDevices, filter: saved.pmu.filter, cpus: config.cpus, memBytes: config.memBytes, modelMsrs: saved.msrs });
    const diffs = diffManifests(saved, here);
    if (diffs.length > 0) {
      const list = diffs.slice(0, 20).map((d) => `${d.name} (saved ${d.a}, here ${d.b})`).join(', ');
      throw new ControllerError('invalid-argument', `${source}${cross}: this host cannot give the saved VM's features exactly; ${diffs.length} difference(s): ${list}${diffs.length > 20 ? ', ...' : ''}${hint}`);
    }
    return a;
  } catch (e) {
    a.devices.destroy();
    a.vm.destroy();
    throw e;
  }
}

/**
 * Loads a state into an assembled VM that has not run: checks every section (backend, devices,
 * RAM runs) first, then loads. `ramBase` are RAM patches to apply before the state's own (the
 * parents of a diff snapshot, oldest first). `savedOn` is the engine that saved it (default: its
 * machine section's, else this VM's).
 */
export function loadVmState(a: AssembledVm, state: MachineState, source: string, ramBase: readonly RamPatch[] = [], savedOn?: BackendState['backend']): void {
  const vm = a.vm;
  if (vm.restoreState === undefined) throw new ControllerError('not-supported', `the ${a.backend} backend cannot restore a state`);
  const sections = state.sections;
  const backendSections = sections.filter((s): s is PersistSection => !isRawSection(s) && s.name !== 'manifest' && s.name !== 'machine' && !s.name.startsWith('device.'));
  const patches = ramPatches(a, state, source);
  let loadDevices: () => void;
  try {
    loadDevices = prepareDeviceRestore(a.devices, state);
  } catch (e) {
    if (e instanceof PersistError) throw new StateFileError(`${source}: ${e.message}`);
    throw e;
  }
  // The backend checks all its sections before it loads any, so it goes first: a refusal leaves
  // RAM and devices untouched too.
  // Tagged with the engine that saved it: a backend converts the other engine's forms (state-forms.ts).
  const machine = state.section('machine');
  const saved = savedOn ?? (machine !== undefined ? readMachine(machine, source).backend : a.backend);
  const backend: BackendState = { backend: saved as BackendState['backend'], sections: backendSections };
  try {
    vm.restoreState(backend);
  } catch (e) {
    if (e instanceof PersistError) throw new StateFileError(`${source}: ${e.message}`);
    throw e;
  }
  for (const p of ramBase) applyRamPatch(vm.memory, p);
  for (const p of patches) applyRamPatch(vm.memory, p);
  loadDevices();
}

/** The RAM patches of a state, each checked against its region. */
export function ramPatches(a: AssembledVm, state: MachineState, source: string): RamPatch[] {
  const regions = new Map<string, MemoryRegion>(a.vm.memory.regions.map((r) => [ramSectionName(r), r]));
  const out: RamPatch[] = [];
  for (const s of state.sections) {
    if (!isRawSection(s)) continue;
    const r = regions.get(s.name);
    if (r === undefined) throw new StateFileError(`${source}: section ${s.name} names a memory region this VM does not have`);
    out.push(checkRamSection(s, r, source));
  }
  return out;
}
