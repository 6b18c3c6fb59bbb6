/**
 * Reverse execution for the gdb stub on a deterministic emu VM: the run under gdb is recorded as
 * checkpoints (checkpoints.ts) and any earlier point of it is reached by restoring the nearest
 * checkpoint at or before it and running forward to its exact instruction count (EmuVm.pauseAt).
 *
 * - Positions are the VM's global instruction count (all vCPUs): `bs` goes back one instruction of
 *   the VM (the stop names the vCPU that ran it), `bc` to the last breakpoint or watchpoint hit before now.
 * - Checkpoints: at attach, at every stop gdb sees (taken again when the run resumes, with what the
 *   stub armed: the breakpoints of that stretch, the step, a pass over a breakpoint at RIP), and every
 *   `every` instructions while the guest runs (a pause at an exact count does not change the run).
 * - A replay runs with the debug arming the recorded stretch had (the stops it made); arming does not
 *   change the run (emu's debug stops are stop points), so `bc` scans the stretches between checkpoints
 *   with gdb's breakpoints of now armed too and keeps the last hit, then replays to it. A scan that reaches a checkpoint checks the vCPUs' registers and counts
 *   against it and stops with an error if the replay diverged.
 * - Behind the furthest point reached (the frontier) the VM is in replay: forward `s`/`c` replay the
 *   recorded run (to the next hit) and serial output is dropped, as it was printed the first time;
 *   at the frontier the run goes on live. Writing registers or memory in the past drops the future
 *   recorded after that point (the run goes on live from there).
 */
import type { EmuCpu } from '../../cpu/emu/cpu.js';
import type { EmuVm } from '../../cpu/emu/emu-vm.js';
import { HostStop, refreshDebug, type HostWatch } from '../../cpu/emu/debug-regs.js';
import { ipLin } from '../../cpu/emu/run-loop.js';
import { ripFromU64, ripU64, sameRip } from '../../cpu/emu/address.js';
import { getFlags } from '../../cpu/emu/lazy-flags.js';
import type { Persist } from '../../util/persist.js';
import { CheckpointStore, DEFAULT_LIMITS, type Checkpoint, type CheckpointLimits } from './checkpoints.js';
import type { StopEvent, StopNote } from './gdb-target.js';
import { SIGINT } from './gdb-session.js';
import { stopEventOf, type EmuGdbTarget } from './emu-target.js';

export interface ReverseOptions {
  /** The VM's stateful devices under their section names (device-state.ts devicePersists). */
  readonly devices: readonly (readonly [string, Persist])[];
  /** Set while the VM replays recorded history: the serial console drops what the guest prints then and holds input. */
  readonly gate: { replaying: boolean; onInput: (() => void) | null };
  /** Instructions between periodic checkpoints while the guest runs (default 2 000 000). */
  readonly every?: number;
  readonly limits?: CheckpointLimits;
}

/** What the stub had armed on the vCPUs when a stretch of the run started (restored with its checkpoint). */
interface Arming {
  readonly breakpoints: readonly bigint[];
  readonly watches: readonly HostWatch[];
  readonly step: readonly boolean[];
  readonly stopAt: readonly number[];
  /** The vCPUs' hostResumeAt, exact (a code handle there is formed again when armed: address.ts ripOf). */
  readonly resumeAt: readonly (bigint | null)[];
}

interface Extra {
  /** null at a stop the run has not resumed from (the frontier). */
  arming: Arming | null;
  /** The vCPUs' counts and main registers, to check replays against. */
  readonly sig: string;
}

type Park = 'limit' | 'debug' | 'interrupted' | 'ended';

interface Hit {
  readonly at: number;
  readonly event: StopEvent;
}

class Interrupted extends Error {}
class Diverged extends Error {}

export class EmuHistory {
  private readonly store: CheckpointStore<Extra>;
  private readonly vm: EmuVm;
  private readonly every: number;
  /** Instructions between periodic checkpoints now (adapted to their cost, see live()). */
  private interval: number;
  /** gdb wrote registers or memory (or input arrived) since the last checkpoint. */
  private written = false;
  /** Host input reached the guest while it ran live: the next checkpoint starts the history. */
  private inputWhileRunning = false;
  private runningLive = false;
  /** The state a backward scan must reach at its end (the point it started from). */
  private expect: { at: number; sig: string } | null = null;
  /** The furthest instruction count the run reached live. */
  private frontier: number;
  private park: ((p: Park) => void) | null = null;
  private stopCpu: EmuCpu | null = null;
  private interruptWanted = false;
  private busy = false;
  /** Replays and reverse steps done, and their time (monitor reverse). */
  private readonly stats = { replays: 0, replayMs: 0, replayedInsns: 0 };

  constructor(
    private readonly target: EmuGdbTarget,
    private readonly opts: ReverseOptions,
  ) {
    this.vm = target.vm;
    this.every = opts.every ?? 2_000_000;
    this.interval = this.every;
    const vm = this.vm;
    this.store = new CheckpointStore<Extra>(
      { memory: vm.memory, saveState: () => vm.saveState(), restoreState: (s) => vm.restoreState(s), devices: opts.devices },
      opts.limits ?? DEFAULT_LIMITS,
    );
    this.frontier = vm.instructionsRetired;
    opts.gate.onInput = () => this.inputArrived();
  }

  /**
   * Host input reached the guest. At a stop it is part of this point (the resume checkpoints it);
   * while the guest runs it arrived at a count no replay would give it, so the history before the
   * next checkpoint goes.
   */
  private inputArrived(): void {
    if (this.runningLive) this.inputWhileRunning = true;
    else this.written = true;
  }

  private get pos(): number {
    return this.vm.instructionsRetired;
  }

  private signature(): string {
    // getRip: exact, and the same after the code windows are recycled (a code handle beyond +-2^53 may not be).
    return this.vm.cpus.map((c) => `${c.instructions}:${c.getRip()}:${c.getGpr(4)}:${getFlags(c) >>> 0}`).join(' ');
  }

  private arming(): Arming {
    const t = this.target;
    return {
      breakpoints: [...t.breakpoints],
      watches: [...t.watches],
      step: t.debug.map((d) => d.step),
      stopAt: t.debug.map((d) => d.stopAt),
      resumeAt: this.vm.cpus.map((c) => (Number.isNaN(c.hostResumeAt) ? null : ripU64(c.hostResumeAt))),
    };
  }

  /** Arms the vCPUs as a recorded stretch had them (plus gdb's own breakpoints for a scan), leaving the run unchanged. */
  private applyArming(a: Arming | null, withUser: boolean): void {
    const t = this.target;
    if (a === null) {
      t.armUser();
      for (const c of this.vm.cpus) c.hostStop = HostStop.None;
      return;
    }
    t.breakpoints.clear();
    for (const b of a.breakpoints) t.breakpoints.add(b);
    t.watches.length = 0;
    t.watches.push(...a.watches);
    if (withUser) {
      for (const b of t.userBreakpoints) t.breakpoints.add(b);
      for (const w of t.userWatches) if (!t.watches.some((x) => x.lin === w.lin && x.len === w.len && x.kind === w.kind)) t.watches.push(w);
    }
    this.vm.cpus.forEach((c, i) => {
      t.debug[i]!.step = a.step[i]!;
      t.debug[i]!.stopAt = a.stopAt[i]!;
      const r = a.resumeAt[i]!;
      c.hostResumeAt = r === null ? NaN : ripFromU64(r, c);
      c.hostStop = HostStop.None;
      refreshDebug(c, true); // arming does not change the run
    });
  }

  private take(arming: Arming | null): Checkpoint<Extra> {
    const cp = this.store.take(this.pos, { arming, sig: this.signature() });
    if (this.inputWhileRunning) {
      this.inputWhileRunning = false;
      this.store.dropBefore(cp.count);
    }
    return cp;
  }

  /** Runs the VM until exactly `limit` instructions have retired, or a debug stop, Ctrl-C or the end. */
  private runTo(limit: number): Promise<Park> {
    if (this.vm.stopped !== undefined) return Promise.resolve('ended');
    if (limit <= this.pos) return Promise.resolve('limit');
    return new Promise((resolve) => {
      this.park = resolve;
      void this.vm.pauseAt(limit).then(() => {
        if (this.park !== resolve) return;
        if (this.vm.stopped !== undefined) {
          this.park = null;
          resolve('ended');
          return;
        }
        // A debug stop or Ctrl-C at the same time settles through cpuStopped / interrupt (promise
        // callbacks of the same pause, which run before the next macrotask).
        if (this.interruptWanted) return;
        const hit = this.vm.cpus.find((c) => c.hostStop !== HostStop.None);
        if (hit !== undefined) {
          // A watchpoint hit by the instruction that reached the count: the VM parked as a pause, not as a debug stop.
          setImmediate(() => {
            if (this.park !== resolve) return;
            this.park = null;
            this.stopCpu = hit;
            resolve('debug');
          });
          return;
        }
        this.park = null;
        resolve('limit');
      });
      this.vm.resume();
    });
  }

  cpuStopped(cpu: EmuCpu): void {
    const p = this.park;
    if (p === null) return;
    this.park = null;
    this.stopCpu = cpu;
    p('debug');
  }

  interrupt(): void {
    if (this.park === null) return;
    this.interruptWanted = true;
    void this.vm.pause().then(() => {
      const p = this.park;
      if (p === null) return;
      this.park = null;
      p('interrupted');
    });
  }

  /** One gdb command that runs the VM, reported through onStop when done. */
  private run(what: () => Promise<(StopEvent & StopNote) | null>): void {
    if (this.busy) return;
    this.busy = true;
    this.interruptWanted = false;
    void what()
      .then(
        (e) => e,
        (err: unknown): (StopEvent & StopNote) | null => {
          const msg = err instanceof Interrupted ? undefined : err instanceof Diverged ? err.message : `reverse execution failed: ${(err as Error).message}`;
          return { kind: 'signal', thread: 1, signal: SIGINT, ...(msg !== undefined ? { note: `tsvmm: ${msg}` } : {}) };
        },
      )
      .then((e) => {
        this.busy = false;
        this.interruptWanted = false;
        if (e !== null && this.vm.stopped === undefined) this.target.onStop(e);
      });
  }

  forward(step: number | null): void {
    this.run(async () => (this.pos < this.frontier ? this.replayForward(step) : this.live(step)));
  }

  reverse(step: number | null): void {
    this.run(async () => {
      const start = this.store.all[0]?.count ?? this.pos;
      const from = this.pos;
      if (from <= start) return { kind: 'history-begin', thread: 1, note: `tsvmm: at the start of the recorded history (instruction ${start})` };
      if (step !== null) {
        const before = this.counts();
        await this.goTo(from - 1);
        return { kind: 'step', thread: this.ranThread(before, step) };
      }
      const hit = await this.scanBack(from);
      if (hit !== null) {
        await this.land(hit);
        return hit.event;
      }
      await this.goTo(start);
      return { kind: 'history-begin', thread: 1, note: `tsvmm: no breakpoint or watchpoint hit before this point; at the start of the recorded history (instruction ${start})` };
    });
  }

  /**
   * Runs on live from the frontier, checkpointing every `interval` instructions, until a stop for gdb.
   * The interval starts at `every` and grows while taking a checkpoint costs more than 1/20 of the
   * time the stretch before it ran (a large guest's RAM is compared page by page).
   */
  private async live(step: number | null): Promise<(StopEvent & StopNote) | null> {
    this.target.armResume(step);
    // Input held during replays reaches the guest now, before the checkpoint of this point.
    this.opts.gate.replaying = false;
    const here = this.store.atOrBefore(this.pos);
    // The checkpoint of the stop is this point unless gdb wrote registers or memory since: it gets the arming.
    if (here !== undefined && here.count === this.pos && !this.written) here.extra.arming = this.arming();
    else this.take(this.arming());
    this.written = false;
    for (;;) {
      const t0 = performance.now();
      this.runningLive = true;
      const r = await this.runTo(this.pos + this.interval).finally(() => (this.runningLive = false));
      this.frontier = this.pos;
      if (r === 'ended') return null;
      if (r === 'limit') {
        const t1 = performance.now();
        this.take(this.arming());
        const takeMs = performance.now() - t1;
        const runMs = t1 - t0;
        this.interval = Math.min(1e12, Math.max(this.every, Math.ceil((this.interval * takeMs * 20) / Math.max(runMs, 0.001))));
        continue;
      }
      let e: StopEvent;
      if (r === 'interrupted') e = { kind: 'signal', thread: 1, signal: SIGINT };
      else e = stopEventOf(this.stopCpu!);
      this.take(null);
      return e;
    }
  }

  /** Forward in the recorded past: one instruction, or to the next hit (else live from the frontier). */
  private async replayForward(step: number | null): Promise<(StopEvent & StopNote) | null> {
    const from = this.pos;
    if (step !== null) {
      const before = this.counts();
      await this.goTo(from + 1);
      return { kind: 'step', thread: this.ranThread(before, step) };
    }
    const t = this.target;
    // Nothing of gdb's to stop at: no need to look at the recorded run on the way.
    let cp = t.userBreakpoints.size + t.userWatches.length > 0 ? this.store.atOrBefore(from) : undefined;
    while (cp !== undefined && cp.count < this.frontier) {
      const next = this.store.after(cp.count);
      const hits = await this.scan(cp, next?.count ?? this.frontier);
      const first = hits.find((h) => h.at > from);
      if (first !== undefined) {
        await this.land(first);
        return first.event;
      }
      cp = next;
    }
    // Nothing recorded stops it: from the frontier on the run is live again.
    await this.goTo(this.frontier);
    return this.live(null);
  }

  /** The last hit of gdb's breakpoints or watchpoints before `from`, scanning back one stretch at a time. */
  private async scanBack(from: number): Promise<Hit | null> {
    if (this.target.userBreakpoints.size + this.target.userWatches.length === 0) return null;
    // The scan of the last stretch ends here: it must arrive at this very state.
    this.expect = { at: from, sig: this.signature() };
    let cp = this.store.atOrBefore(from - 1);
    while (cp !== undefined) {
      const next = this.store.after(cp.count);
      const end = Math.min(next?.count ?? from, from);
      const hits = await this.scan(cp, end);
      // A watchpoint going backwards stops before the writing instruction (its hit is counted after it).
      const back = hits
        .map((h) => (h.event.kind === 'watch' ? { at: h.at - 1, event: h.event } : h))
        .filter((h) => h.at < from && h.at >= cp!.count);
      if (back.length > 0) return back[back.length - 1]!;
      cp = this.store.all.filter((c) => c.count < cp!.count).pop();
    }
    return null;
  }

  /** Replays from `cp` to `end` with gdb's breakpoints armed too; the hits of gdb's own ones, in order. */
  private async scan(cp: Checkpoint<Extra>, end: number): Promise<Hit[]> {
    const t = this.target;
    this.restore(cp, true);
    const hits: Hit[] = [];
    // A stretch that resumed from a breakpoint passes over it (hostResumeAt): that is a hit at its start,
    // where gdb saw that vCPU in front of it.
    const passing = this.vm.cpus.find((c) => !c.halted && !c.waitSipi && sameRip(c.hostResumeAt, ipLin(c)) && t.userBreakpoints.has(ripU64(ipLin(c))));
    if (passing !== undefined && cp.count < end) hits.push({ at: cp.count, event: { kind: 'breakpoint', thread: passing.index + 1 } });
    for (;;) {
      const r = await this.runTo(end);
      if (r === 'interrupted') throw new Interrupted();
      if (r === 'ended') throw new Diverged(`the replay ended the VM before instruction ${end}: the recorded run did not repeat (host input during the run?)`);
      if (r === 'limit') break;
      const cpu = this.stopCpu!;
      const kind = cpu.hostStop;
      const addr = cpu.hostStopAddr;
      const watchKind = cpu.hostStopWatch;
      // A breakpoint stop is in front of its instruction: RIP's exact linear address is the breakpoint's.
      const at = ripU64(ipLin(cpu));
      const event = stopEventOf(cpu);
      const mine =
        (kind === HostStop.Breakpoint && t.userBreakpoints.has(at)) ||
        (kind === HostStop.Watch && t.userWatches.some((w) => w.lin === addr && w.kind === watchKind));
      if (mine) hits.push({ at: this.pos, event });
      if (this.pos >= end) break;
      // On past it, as a resume would: without a new interrupt poll (the recorded run had none here).
      this.vm.cpus.forEach((c) => {
        c.hostResumeAt = ipLin(c);
        c.hostStop = HostStop.None;
      });
    }
    const at = this.store.all.find((c) => c.count === end);
    const want = at !== undefined ? at.extra.sig : this.expect?.at === end ? this.expect.sig : undefined;
    if (want !== undefined && want !== this.signature()) {
      throw new Diverged(`the replay diverged from the recorded run before instruction ${end} (host input arrived during the run?); reverse-stepi still works`);
    }
    return hits;
  }

  /**
   * Goes to a hit a scan found, by an exact replay of the recorded run (the scan had gdb's breakpoints
   * armed too), and checks it is one: the vCPU in front of one of gdb's breakpoints.
   */
  private async land(hit: Hit): Promise<void> {
    await this.goTo(hit.at);
    const e = hit.event;
    if (e.kind !== 'breakpoint') return;
    const c = this.vm.cpus[e.thread - 1]!;
    if (!this.target.userBreakpoints.has(ripU64(ipLin(c)))) {
      throw new Diverged(`the replay to instruction ${hit.at} does not stop at the breakpoint the scan found there: the recorded run did not repeat; reverse-stepi still works`);
    }
  }

  /** Puts the VM exactly where the recorded run was at instruction count `n`. */
  private async goTo(n: number): Promise<void> {
    const cp = this.store.atOrBefore(n);
    if (cp === undefined) throw new Error(`instruction ${n} is before the recorded history`);
    const t0 = performance.now();
    this.restore(cp, false);
    if (n > cp.count) {
      if (cp.extra.arming === null) throw new Error(`no recorded run after instruction ${cp.count}`);
      const r = await this.runTo(n);
      if (r === 'interrupted') throw new Interrupted();
      if (r === 'debug') {
        // The recorded run stopped here too (a step, or a breakpoint it resumed from).
        stopEventOf(this.stopCpu!);
      }
      if (this.pos !== n) throw new Diverged(`the replay stopped at instruction ${this.pos}, not ${n}: the recorded run did not repeat`);
    }
    this.stats.replays++;
    this.stats.replayedInsns += n - cp.count;
    this.stats.replayMs += performance.now() - t0;
    // Left armed as gdb has it (a later resume re-arms anyway).
    for (const c of this.vm.cpus) c.hostStop = HostStop.None;
  }

  private restore(cp: Checkpoint<Extra>, withUser: boolean): void {
    this.opts.gate.replaying = true;
    this.store.restore(cp);
    this.applyArming(cp.extra.arming, withUser);
  }

  private counts(): number[] {
    return this.vm.cpus.map((c) => c.instructions);
  }

  /** The thread whose count changed since `before` (the one that ran the instruction), else `fallback`. */
  private ranThread(before: readonly number[], fallback: number): number {
    const i = this.vm.cpus.findIndex((c, k) => c.instructions !== before[k]);
    return i >= 0 ? i + 1 : fallback;
  }

  /** gdb changed registers or memory: if that is in the past, the recorded future is gone. */
  branchHere(): void {
    if (this.busy) return;
    this.written = true;
    if (this.pos >= this.frontier) return;
    this.store.dropAfter(this.pos);
    this.frontier = this.pos;
    const cur = this.store.atOrBefore(this.pos);
    if (cur === undefined || cur.count !== this.pos) this.take(null);
    else cur.extra.arming = null;
  }

  /** gdb detached: back to the frontier, where the run goes on. */
  detach(): void {
    this.park = null;
    if (this.pos < this.frontier) {
      const cp = this.store.atOrBefore(this.frontier);
      if (cp !== undefined && cp.count === this.frontier) this.restore(cp, false);
    }
    this.opts.gate.replaying = false;
  }

  /** Called once the VM is paused for gdb: the first checkpoint, where the history starts. */
  start(): void {
    if (this.store.all.length === 0) this.take(null);
    this.frontier = Math.max(this.frontier, this.pos);
  }

  describe(): string {
    const all = this.store.all;
    const s = this.stats;
    return [
      `reverse execution: on; history from instruction ${all[0]?.count ?? this.pos} to ${this.frontier}, now at ${this.pos}${this.pos < this.frontier ? ' (replaying)' : ''}`,
      `checkpoints: ${all.length} (at most ${this.opts.limits?.maxCount ?? DEFAULT_LIMITS.maxCount}), every ${this.interval} instructions (at least ${this.every}, more while checkpoints cost over 5% of the run) and at each stop; page copies ${(this.store.pageBytes / 1048576).toFixed(2)} MiB (at most ${((this.opts.limits?.maxBytes ?? DEFAULT_LIMITS.maxBytes) / 1048576).toFixed(0)} MiB)`,
      `replays: ${s.replays}, ${s.replayedInsns} instructions re-run, ${s.replayMs.toFixed(1)} ms`,
    ].join('\n');
  }
}
