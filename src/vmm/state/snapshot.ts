/**
 * Snapshots to files (the controller's SnapshotService): `snapshot-create` of a paused VM and
 * `snapshot-load` into a controller that has not started, with Firecracker's two files:
 * - without a memory file, the state file holds everything, guest RAM as sections of pages;
 * - with `memFilePath`, guest RAM goes to that file as the flat image of the regions in address
 *   order (a full snapshot writes the pages ever written into a sparse file; a diff writes only the
 *   dirty pages into the existing file, which then holds the newer RAM) and the state file says
 *   which layout it has.
 * A diff snapshot without a memory file holds the dirty pages since the previous snapshot of this
 * VM and names that snapshot (id and path); loading it loads the chain from its full snapshot.
 * Diffs need the dirty log (machine-config track_dirty_pages), which runs from start and restarts
 * with every snapshot.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, readFileSync, readSync, renameSync, writeSync, writevSync } from 'node:fs';
import type { Vm } from '../../cpu/vm.js';
import { PAGE_SIZE, type GuestMemory } from '../../memory/guest-memory.js';
import { ControllerError, type SnapshotContext, type SnapshotKind, type SnapshotService } from '../controller-types.js';
import { field, type PersistSection } from '../../util/persist.js';
import type { BuiltVm } from '../vm-builder.js';
import { isRawSection, MachineState, StateFileError, type StateSection } from './machine-state.js';
import { encodeRamPages, pagesToSave, dirtyByRegion, type RamPatch } from './ram-state.js';
import { assembleFor, describeVm, fullRamSections, loadVmState, machineSection, manifestSection, newStateId, ramPatches, readMachine, readManifest, restoreConfig, vmSections } from './vm-state.js';

const MEMORY_FILE_SCHEMA = {
  kind: 'memory-file',
  version: 1,
  fields: { size: field.number(), regions: field.array(field.record({ name: field.string(256), gpa: field.number(), size: field.number(), offset: field.number() }), 64) },
} as const;

/** Every dirty page at once (the log is bounded per call; this loops until it is empty). */
export function collectAllDirty(vm: Vm): number[] {
  (vm as { syncDirtyLog?: () => void }).syncDirtyLog?.();
  const mem = vm.memory;
  const out: number[] = [];
  for (const r of mem.regions) {
    for (;;) {
      const got = mem.collectDirty(r.gpa, r.size, 65536);
      for (const a of got) out.push(a);
      if (got.length < 65536) break;
    }
  }
  return out;
}

/** Where each region lies in a memory file: the regions in address order, back to back. */
function memoryLayout(mem: GuestMemory): { size: number; regions: { name: string; gpa: number; size: number; offset: number }[] } {
  let offset = 0;
  const regions = mem.regions.map((r) => {
    const e = { name: r.name, gpa: r.gpa, size: r.size, offset };
    offset += r.size;
    return e;
  });
  return { size: offset, regions };
}

function writeAll(fd: number, b: Uint8Array, position: number): void {
  for (let done = 0; done < b.length; ) done += writeSync(fd, b, done, b.length - done, position + done);
}

/** Writes pages (page numbers per region) into a memory file of the VM's layout. */
function writeMemoryPages(fd: number, mem: GuestMemory, pages: Map<import('../../memory/guest-memory.js').MemoryRegion, number[]>): number {
  const layout = memoryLayout(mem);
  let bytes = 0;
  mem.regions.forEach((r, i) => {
    const list = pages.get(r);
    if (list === undefined) return;
    const base = layout.regions[i]!.offset;
    for (let k = 0; k < list.length; ) {
      let n = 1;
      while (k + n < list.length && list[k + n] === list[k]! + n) n++;
      const first = list[k]!;
      writeAll(fd, r.bytes.subarray(first * PAGE_SIZE, (first + n) * PAGE_SIZE), base + first * PAGE_SIZE);
      bytes += n * PAGE_SIZE;
      k += n;
    }
  });
  return bytes;
}

/** Writes a state file whole or not at all (a temporary file renamed over the path). */
export function writeStateFile(path: string, state: MachineState): number {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  let bytes = 0;
  try {
    const chunks = state.encode();
    // writev takes at most IOV_MAX (1024) buffers per call.
    for (let i = 0; i < chunks.length; i += 512) {
      const part = chunks.slice(i, i + 512);
      const want = part.reduce((n, c) => n + c.length, 0);
      let done = writevSync(fd, part);
      if (done < want) {
        // A short write: finish chunk by chunk.
        let skip = done;
        for (const c of part) {
          if (skip >= c.length) {
            skip -= c.length;
            continue;
          }
          writeAll(fd, c.subarray(skip), bytes + done);
          done += c.length - skip;
          skip = 0;
        }
      }
      bytes += want;
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  return bytes;
}

export function readStateFile(path: string): MachineState {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ControllerError('host-io', `snapshot ${path}: cannot be read (${code === 'ENOENT' ? 'no such file' : code ?? String(e)})`, { cause: e });
  }
  return MachineState.decode(bytes, `snapshot ${path}`);
}

interface Last {
  readonly id: string;
  readonly path: string;
  readonly memFilePath: string | undefined;
}

export interface SnapshotTimings {
  /** Bytes of the state file and of RAM pages written. */
  stateBytes: number;
  ramBytes: number;
  ms: number;
}

export class FileSnapshots implements SnapshotService {
  /** The last snapshot of each VM (a diff applies on top of it). */
  private readonly last = new WeakMap<Vm, Last>();
  /** What the last create or load cost (for `tsvmm snapshot` and the bench). */
  lastTimings: SnapshotTimings | undefined;

  async create(ctx: SnapshotContext, req: { snapshotPath: string; memFilePath?: string; kind: SnapshotKind }): Promise<void> {
    const t0 = performance.now();
    const built = ctx.built!;
    const vm = built.vm;
    const prev = this.last.get(vm);
    if (req.kind === 'diff') {
      if (!ctx.trackDirtyPages) throw new ControllerError('invalid-state', 'a Diff snapshot needs dirty page tracking: set track_dirty_pages in the machine configuration before start', { field: 'snapshot_type' });
      if (prev === undefined) throw new ControllerError('invalid-state', 'a Diff snapshot applies on top of an earlier snapshot of this VM: create a Full one first', { field: 'snapshot_type' });
      if (req.memFilePath !== undefined && req.memFilePath !== prev.memFilePath) {
        throw new ControllerError('invalid-argument', `a Diff snapshot's mem_file_path updates the previous snapshot's memory file (${prev.memFilePath ?? 'none: that one kept RAM in its state file'})`, { field: 'mem_file_path' });
      }
    }
    const id = newStateId();
    const parent = req.kind === 'diff' && req.memFilePath === undefined ? { id: prev!.id, path: prev!.path } : undefined;
    const { manifest, machine } = await describeVm(built, ctx.config, id, parent);
    const sections: StateSection[] = [manifestSection(manifest), machineSection(machine), ...vmSections(built)];
    let ramBytes = 0;
    const mem = vm.memory;
    if (req.memFilePath !== undefined) {
      const layout = memoryLayout(mem);
      const pages = req.kind === 'diff' ? dirtyByRegion(mem, collectAllDirty(vm)) : new Map(mem.regions.map((r) => [r, pagesToSave(mem, r)] as const));
      const fd = openSync(req.memFilePath, req.kind === 'diff' ? 'r+' : 'w');
      try {
        if (req.kind === 'full') ftruncateSync(fd, layout.size);
        else if (fstatSync(fd).size !== layout.size) throw new ControllerError('invalid-argument', `memory file ${req.memFilePath} holds ${fstatSync(fd).size} bytes, this VM's RAM is ${layout.size}`, { field: 'mem_file_path' });
        ramBytes = writeMemoryPages(fd, mem, pages);
      } finally {
        closeSync(fd);
      }
      sections.push({ name: 'memory-file', kind: MEMORY_FILE_SCHEMA.kind, version: MEMORY_FILE_SCHEMA.version, fields: layout } satisfies PersistSection);
    } else if (req.kind === 'diff') {
      const byRegion = dirtyByRegion(mem, collectAllDirty(vm));
      for (const r of mem.regions) {
        const s = encodeRamPages(r, byRegion.get(r) ?? []);
        ramBytes += s.raw.length;
        sections.push(s);
      }
    } else {
      for (const s of fullRamSections(built)) {
        ramBytes += s.raw.length;
        sections.push(s);
      }
    }
    const stateBytes = writeStateFile(req.snapshotPath, new MachineState(sections, parent !== undefined));
    // The next diff covers the writes from here on.
    if (ctx.trackDirtyPages && req.kind === 'full') mem.startDirtyLog();
    this.last.set(vm, { id, path: req.snapshotPath, memFilePath: req.memFilePath });
    this.lastTimings = { stateBytes, ramBytes, ms: performance.now() - t0 };
  }

  async load(ctx: SnapshotContext, req: { snapshotPath: string; memFilePath?: string }): Promise<void> {
    const t0 = performance.now();
    const state = readStateFile(req.snapshotPath);
    const source = `snapshot ${req.snapshotPath}`;
    const manifest = readManifest(state.section('manifest'), source);
    const machine = readMachine(state.section('machine'), source);
    // A diff without a memory file: its parents, back to the full snapshot, oldest first.
    const chain: { state: MachineState; path: string }[] = [];
    let cur = { state, machine, path: req.snapshotPath };
    const seen = new Set([machine.id]);
    while (cur.state.diff) {
      const m = cur.machine;
      if (m.parentPath === '') throw new StateFileError(`${source}: a diff snapshot that names no parent`);
      const ps = readStateFile(m.parentPath);
      const pm = readMachine(ps.section('machine'), `snapshot ${m.parentPath}`);
      if (pm.id !== m.parentId) throw new StateFileError(`${source}: its parent ${m.parentPath} is another snapshot (id ${pm.id}, expected ${m.parentId}): it was overwritten since`);
      if (seen.has(pm.id)) throw new StateFileError(`${source}: the chain of parents loops at ${m.parentPath}`);
      seen.add(pm.id);
      chain.unshift({ state: ps, path: m.parentPath });
      cur = { state: ps, machine: pm, path: m.parentPath };
    }
    const memFile = state.section('memory-file');
    if (memFile !== undefined && req.memFilePath === undefined) throw new ControllerError('invalid-argument', `${source} keeps guest RAM in a memory file: give mem_file_path`, { field: 'mem_file_path' });
    if (memFile === undefined && req.memFilePath !== undefined) throw new ControllerError('invalid-argument', `${source} holds guest RAM itself: leave out mem_file_path`, { field: 'mem_file_path' });
    const config = restoreConfig(ctx.config, machine, manifest);
    const a = await assembleFor(config, manifest, ctx.serialSink(), source, machine.backend);
    try {
      const base: RamPatch[] = [];
      for (const c of chain) base.push(...ramPatches(a, c.state, `snapshot ${c.path}`));
      if (memFile !== undefined) readMemoryFile(a.vm.memory, memFile, req.memFilePath!, source);
      loadVmState(a, withoutMemoryFile(state), source, base);
    } catch (e) {
      a.devices.destroy();
      a.vm.destroy();
      throw e;
    }
    const built: BuiltVm = { ...a, boot: { registers: [], entry: 0, summary: `restored from ${req.snapshotPath}` }, kernelPath: req.snapshotPath };
    ctx.adoptRestored(built, config);
    this.last.set(a.vm, { id: machine.id, path: req.snapshotPath, memFilePath: req.memFilePath });
    this.lastTimings = { stateBytes: 0, ramBytes: 0, ms: performance.now() - t0 };
  }
}

function withoutMemoryFile(s: MachineState): MachineState {
  return s.section('memory-file') === undefined ? s : new MachineState(s.sections.filter((x) => x.name !== 'memory-file'), s.diff);
}

/** Reads a memory file into the regions (checked against the layout the state file recorded). */
function readMemoryFile(mem: GuestMemory, section: StateSection, path: string, source: string): void {
  if (isRawSection(section) || section.kind !== MEMORY_FILE_SCHEMA.kind) throw new StateFileError(`${source}: the memory-file section is malformed`);
  const want = memoryLayout(mem);
  const saved = JSON.stringify(section.fields);
  if (saved !== JSON.stringify(want)) throw new StateFileError(`${source}: its memory file layout ${saved} is not this VM's ${JSON.stringify(want)}`);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new ControllerError('host-io', `memory file ${path}: cannot be opened (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { field: 'mem_file_path', cause: e });
  }
  try {
    const size = fstatSync(fd).size;
    if (size !== want.size) throw new StateFileError(`memory file ${path}: ${size} bytes, the snapshot's RAM is ${want.size} (truncated or another VM's?)`);
    mem.regions.forEach((r, i) => {
      const off = want.regions[i]!.offset;
      for (let done = 0; done < r.size; ) {
        const n = readSync(fd, r.bytes, done, r.size - done, off + done);
        if (n <= 0) throw new StateFileError(`memory file ${path}: short read at byte ${off + done}`);
        done += n;
      }
      mem.markDirty(r.gpa, r.size);
    });
  } finally {
    closeSync(fd);
  }
}
