/**
 * In-memory checkpoints of a paused emu VM for reverse execution: the backend's sections
 * (vCPUs, chips, clock, run point: Vm.saveState), the devices' sections and guest RAM. RAM is kept
 * as page copies shared between checkpoints: a checkpoint copies only the pages that differ from
 * the previous one's, so a checkpoint after a few instructions costs a few pages plus the
 * register and device state (a few KiB). Bounded by count and by bytes: past either bound the
 * oldest checkpoint goes (the history then starts later).
 */
import type { BackendState } from '../../cpu/vm.js';
import type { GuestMemory, MemoryRegion } from '../../memory/guest-memory.js';
import { prepareRestore, saveSection, type Persist, type PersistSection } from '../../util/persist.js';

const PAGE = 4096;

/** What the VM needs from its owner to be checkpointed (EmuVm and the VMM's devices). */
export interface CheckpointHost {
  readonly memory: GuestMemory;
  saveState(): BackendState;
  restoreState(state: BackendState): void;
  /** The stateful devices under their section names (device-state.ts devicePersists). */
  readonly devices: readonly (readonly [string, Persist])[];
}

export interface Checkpoint<Extra> {
  /** Instructions retired (all vCPUs) at the checkpoint. */
  readonly count: number;
  readonly backend: BackendState;
  readonly devices: readonly PersistSection[];
  /** Per region, per page: its contents, or undefined for a page never written (zero). */
  readonly pages: readonly (readonly (Uint8Array | undefined)[])[];
  /** Bytes of page copies this checkpoint holds that no older one shares. */
  ownBytes: number;
  /** The owner's own data (the debug arming to apply after a restore). */
  extra: Extra;
}

export interface CheckpointLimits {
  readonly maxCount: number;
  readonly maxBytes: number;
}

export const DEFAULT_LIMITS: CheckpointLimits = { maxCount: 256, maxBytes: 512 * 1024 * 1024 };

export class CheckpointStore<Extra> {
  private readonly list: Checkpoint<Extra>[] = [];
  private bytes = 0;
  /** Pages written since RAM last equalled `base` (emu reports every guest and host write). */
  private readonly tracker: { take(): Map<MemoryRegion, Uint8Array> } | undefined;
  /** The checkpoint RAM equals but for the pages the tracker has seen written since (null: compare every page). */
  private base: Checkpoint<Extra> | null = null;

  constructor(
    private readonly host: CheckpointHost,
    private readonly limits: CheckpointLimits = DEFAULT_LIMITS,
  ) {
    this.tracker = host.memory.writeTracker();
  }

  get all(): readonly Checkpoint<Extra>[] {
    return this.list;
  }

  /** Bytes of page copies held (register and device sections are a few KiB per checkpoint on top). */
  get pageBytes(): number {
    return this.bytes;
  }

  /** The latest checkpoint at or before instruction count `n`. */
  atOrBefore(n: number): Checkpoint<Extra> | undefined {
    let best: Checkpoint<Extra> | undefined;
    for (const c of this.list) if (c.count <= n && (best === undefined || c.count >= best.count)) best = c;
    return best;
  }

  /** The first checkpoint after count `n`. */
  after(n: number): Checkpoint<Extra> | undefined {
    let best: Checkpoint<Extra> | undefined;
    for (const c of this.list) if (c.count > n && (best === undefined || c.count < best.count)) best = c;
    return best;
  }

  /** Drops every checkpoint after count `n` (a new future replaces the recorded one). */
  dropAfter(n: number): void {
    for (let i = this.list.length - 1; i >= 0; i--) {
      if (this.list[i]!.count > n) {
        this.bytes -= this.list[i]!.ownBytes;
        this.list.splice(i, 1);
      }
    }
  }

  /** Drops every checkpoint before count `n` (the history starts at `n`). */
  dropBefore(n: number): void {
    while (this.list.length > 1 && this.list[0]!.count < n) this.dropOldest();
  }

  /** Takes a checkpoint of the paused VM at instruction count `count`; one at the same count is replaced. */
  take(count: number, extra: Extra): Checkpoint<Extra> {
    // With a base, only the pages written since are looked at; the others are the base's.
    const written = this.base !== null ? this.tracker?.take() : undefined;
    const prev = written !== undefined ? this.base! : this.atOrBefore(count);
    if (written === undefined) this.tracker?.take();
    const mem = this.host.memory;
    let own = 0;
    const pages = mem.regions.map((r, ri) => {
      const n = r.size / PAGE;
      const before = prev?.pages[ri];
      const w = written?.get(r);
      const incremental = w !== undefined && before !== undefined;
      const out: (Uint8Array | undefined)[] = incremental ? before.slice() : new Array<Uint8Array | undefined>(n);
      const touched = incremental ? w : mem.touchedBitmap(r);
      for (let p = 0; p < n; p++) {
        if (touched !== undefined && (touched[p >>> 3]! & (1 << (p & 7))) === 0) continue;
        const cur = r.bytes.subarray(p * PAGE, (p + 1) * PAGE);
        const old = before?.[p];
        if (old !== undefined && equalPage(old, cur)) out[p] = old;
        else if (isZero(cur)) out[p] = undefined;
        else {
          out[p] = cur.slice();
          own += PAGE;
        }
      }
      return out;
    });
    const cp: Checkpoint<Extra> = {
      count,
      backend: this.host.saveState(),
      devices: this.host.devices.map(([name, p]) => saveSection(name, p)),
      pages,
      ownBytes: own,
      extra,
    };
    const same = this.list.findIndex((c) => c.count === count);
    if (same >= 0) {
      this.bytes -= this.list[same]!.ownBytes;
      this.list.splice(same, 1);
    }
    this.list.push(cp);
    this.list.sort((a, b) => a.count - b.count);
    this.bytes += own;
    this.base = this.tracker !== undefined ? cp : null;
    this.trim();
    return cp;
  }

  /** Loads checkpoint `cp` into the paused VM: RAM, then the backend, then the devices (all checked first). */
  restore(cp: Checkpoint<Extra>): void {
    const loads = this.host.devices.map(([name, p]) => {
      const s = cp.devices.find((d) => d.name === name);
      if (s === undefined) throw new Error(`checkpoint has no section ${name}`);
      return prepareRestore(s, p);
    });
    const mem = this.host.memory;
    // With a base, the pages to write are those written since and those where the two checkpoints differ.
    const written = this.base !== null ? this.tracker?.take() : undefined;
    const base = written !== undefined ? this.base : null;
    if (written === undefined) this.tracker?.take();
    mem.regions.forEach((r: MemoryRegion, ri) => {
      const saved = cp.pages[ri];
      const touched = mem.touchedBitmap(r);
      const n = r.size / PAGE;
      const w = written?.get(r);
      const from = base?.pages[ri];
      for (let p = 0; p < n; p++) {
        const s = saved?.[p];
        if (w !== undefined && from !== undefined && from[p] === s && (w[p >>> 3]! & (1 << (p & 7))) === 0) continue;
        const cur = r.bytes.subarray(p * PAGE, (p + 1) * PAGE);
        if (s !== undefined) {
          if (!equalPage(s, cur)) cur.set(s);
        } else if (touched === undefined || (touched[p >>> 3]! & (1 << (p & 7))) !== 0) {
          if (!isZero(cur)) cur.fill(0);
        }
      }
    });
    // The backend drops decoded code and TLBs of the old contents (restoreEmuVmState).
    this.host.restoreState(cp.backend);
    for (const l of loads) l();
    this.base = this.tracker !== undefined ? cp : null;
  }

  private trim(): void {
    while (this.list.length > 1 && (this.list.length > this.limits.maxCount || this.bytes > this.limits.maxBytes)) this.dropOldest();
  }

  private dropOldest(): void {
    const old = this.list.shift()!;
    this.bytes -= old.ownBytes;
    // Pages the next checkpoint shared with the dropped one are its own now.
    const next = this.list[0];
    if (next === undefined) return;
    next.pages.forEach((ps, ri) => {
      const o = old.pages[ri];
      if (o === undefined) return;
      ps.forEach((pg, p) => {
        if (pg !== undefined && pg === o[p]) {
          next.ownBytes += PAGE;
          this.bytes += PAGE;
        }
      });
    });
  }
}

function equalPage(a: Uint8Array, b: Uint8Array): boolean {
  const x = new Int32Array(a.buffer, a.byteOffset, PAGE / 4);
  const y = new Int32Array(b.buffer, b.byteOffset, PAGE / 4);
  for (let i = 0; i < PAGE / 4; i++) if (x[i] !== y[i]) return false;
  return true;
}

function isZero(a: Uint8Array): boolean {
  const x = new Int32Array(a.buffer, a.byteOffset, PAGE / 4);
  for (let i = 0; i < PAGE / 4; i++) if (x[i] !== 0) return false;
  return true;
}
