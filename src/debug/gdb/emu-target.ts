/**
 * The gdb stub's target on the emu backend. Breakpoints of both kinds (Z0 and Z1) are host
 * instruction breakpoints checked by the core before each instruction (the guest's memory is
 * never patched, so the guest cannot see or overwrite them); watchpoints guard their pages
 * (debug-regs.ts). A stop of one vCPU pauses the whole VM (all-stop).
 */
import type { EmuVm } from '../../cpu/emu/emu-vm.js';
import type { EmuCpu } from '../../cpu/emu/cpu.js';
import { HostBreakpoints, refreshDebug, rearm, updateArmed, HostStop, type HostDebug, type HostWatch } from '../../cpu/emu/debug-regs.js';
import { peekTranslate } from '../../cpu/emu/debug-translate.js';
import { ipLin } from '../../cpu/emu/run-loop.js';
import { ramAt } from '../../cpu/emu/mem-access.js';
import { getFlags, setFlagsRaw } from '../../cpu/emu/lazy-flags.js';
import { readCr8 } from '../../cpu/emu/control-regs.js';
import { Seg } from '../../cpu/emu/x86-defs.js';
import { GDB_REGISTERS } from './target-description.js';
import { ZType, type GdbTarget, type StopEvent, type StopNote } from './gdb-target.js';
import { SIGINT } from './gdb-session.js';
import { fromLe, leBytes } from './le-bytes.js';
import { EmuHistory, type ReverseOptions } from './emu-history.js';

/** gdb's GPR order → emu's register index. */
const GPR_INDEX = [0, 3, 1, 2, 6, 7, 5, 4, 8, 9, 10, 11, 12, 13, 14, 15];
const SEG_ORDER = [Seg.CS, Seg.SS, Seg.DS, Seg.ES, Seg.FS, Seg.GS];

const U64 = 1n << 64n;

/** A JS linear-address number (signed canonical in long mode) as an unsigned 64-bit value. */
const u64 = (n: number): bigint => (n < 0 ? BigInt(n) + U64 : BigInt(n));
/** The other way: an address from gdb to emu's linear-address number. */
const lin = (a: bigint): number => Number(a >= 1n << 63n ? a - U64 : a);

export interface EmuTargetHooks {
  /** Ends the VM (gdb `kill`). */
  kill(): void;
}

export class EmuGdbTarget implements GdbTarget {
  onStop: (e: StopEvent & StopNote) => void = () => undefined;
  /** What the vCPUs check (HostDebug): gdb's own breakpoints, or during a replay those of the recorded run. */
  readonly breakpoints = new HostBreakpoints();
  readonly watches: HostWatch[] = [];
  /** gdb's breakpoints and watchpoints (Z packets), and its `monitor stop-at` (vCPU 0's count, -1: none). */
  userStopAt = -1;
  /** gdb's breakpoint addresses, unsigned 64-bit (exact beyond +-2^53 too). */
  readonly userBreakpoints = new Set<bigint>();
  readonly userWatches: HostWatch[] = [];
  readonly debug: HostDebug[];
  private waiting = false;
  private interrupted = false;
  /** Reverse execution (checkpoints and replay), when the VM is deterministic and its state can be saved. */
  private readonly history: EmuHistory | null;
  readonly reverseRefusal: string | null;

  constructor(
    readonly vm: EmuVm,
    private readonly hooks: EmuTargetHooks,
    reverse?: ReverseOptions,
  ) {
    this.debug = vm.cpus.map(() => ({ breakpoints: this.breakpoints, watches: this.watches, step: false, stopAt: -1 }));
    this.attach();
    this.reverseRefusal = !vm.clock.deterministic
      ? 'reverse execution needs --accel emu --deterministic (this VM runs on the real-time clock, so a replay would not repeat the run)'
      : reverse === undefined
        ? 'reverse execution needs the VM state (checkpoints), which this embedding does not give the stub'
        : null;
    this.history = this.reverseRefusal === null && reverse !== undefined ? new EmuHistory(this, reverse) : null;
  }

  /** Arms the vCPUs' debug hooks: at creation, and again for each gdb that connects after a detach. */
  attach(): void {
    this.vm.cpus.forEach((c, i) => {
      c.hostDebug = this.debug[i]!;
      refreshDebug(c, true);
    });
    this.vm.onDebugStop = (cpu) => this.cpuStopped(cpu);
    // The VM is paused for gdb now: the recorded history starts here (at the first attach).
    this.history?.start();
  }

  get threadCount(): number {
    return this.vm.cpus.length;
  }

  private cpu(t: number): EmuCpu {
    return this.vm.cpus[t - 1] ?? this.vm.cpus[0]!;
  }

  describeThread(t: number): string {
    const c = this.cpu(t);
    const mode = c.codeSize === 8 ? 'long mode' : (c.cr0 & 1) === 0 ? 'real mode' : `${c.codeSize * 8}-bit protected mode`;
    const state = c.waitSipi ? 'waiting for SIPI' : c.halted ? 'halted' : 'running';
    return `vCPU ${t - 1}, ${mode}, CPL ${c.cpl}, ${state}, ${c.instructions} instructions`;
  }

  readRegister(t: number, reg: number): Uint8Array | null {
    const c = this.cpu(t);
    const g = GDB_REGISTERS[reg];
    if (g === undefined) return null;
    const n = g.bits / 8;
    if (reg < 16) return leBytes(c.getGpr(GPR_INDEX[reg]!), 8);
    switch (g.name) {
      case 'rip':
        return leBytes(c.getRip(), 8);
      case 'eflags':
        return leBytes(BigInt(getFlags(c) >>> 0), 4);
      case 'fs_base':
        return leBytes(u64(c.segBase[Seg.FS]!), 8);
      case 'gs_base':
        return leBytes(u64(c.segBase[Seg.GS]!), 8);
      case 'cr0':
        return leBytes(BigInt(c.cr0 >>> 0), 8);
      case 'cr2':
        return leBytes(u64(c.cr2), 8);
      case 'cr3':
        return leBytes(u64(c.cr3), 8);
      case 'cr4':
        return leBytes(BigInt(c.cr4 >>> 0), 8);
      case 'cr8':
        return leBytes(BigInt(readCr8(c)), 8);
      case 'efer':
        return leBytes(BigInt(c.efer >>> 0), 8);
      case 'k_gs_base':
        return leBytes(u64(c.kernelGsBase), 8);
      case 'mxcsr':
        return leBytes(BigInt(c.mxcsr >>> 0), 4);
      default:
        break;
    }
    const seg = ['cs', 'ss', 'ds', 'es', 'fs', 'gs'].indexOf(g.name);
    if (seg >= 0) return leBytes(BigInt(c.segSel[SEG_ORDER[seg]!]!), 4);
    const x = c.x87;
    if (g.name.startsWith('st')) {
      const p = x.phys(Number(g.name.slice(2)));
      const out = new Uint8Array(10);
      const dv = new DataView(out.buffer);
      dv.setUint32(0, x.sigLo[p]!, true);
      dv.setUint32(4, x.sigHi[p]!, true);
      dv.setUint16(8, x.se[p]!, true);
      return out;
    }
    if (g.name.startsWith('xmm')) {
      const i = Number(g.name.slice(3));
      const out = new Uint8Array(16);
      const dv = new DataView(out.buffer);
      for (let k = 0; k < 4; k++) dv.setUint32(4 * k, c.xmm[4 * i + k]! >>> 0, true);
      return out;
    }
    const fpu: Record<string, number> = { fctrl: x.cw, fstat: x.statusWord(), ftag: x.tagWord(), fiseg: x.fcs, fioff: x.fipLo, foseg: x.fds, fooff: x.fdpLo, fop: x.fop };
    const v = fpu[g.name];
    return v === undefined ? null : leBytes(BigInt(v >>> 0), n);
  }

  writeRegister(t: number, reg: number, value: Uint8Array): boolean {
    // A change in the past starts a new future there: the recorded one is dropped.
    this.history?.branchHere();
    const c = this.cpu(t);
    const g = GDB_REGISTERS[reg];
    if (g === undefined) return false;
    const v = fromLe(value);
    if (reg < 16) {
      c.setGpr(GPR_INDEX[reg]!, v);
      return true;
    }
    switch (g.name) {
      case 'rip':
        c.setRip(v);
        c.hostResumeAt = NaN;
        return true;
      case 'eflags':
        setFlagsRaw(c, Number(v & 0x3f7fd5n) | 2);
        c.updateMode();
        rearm(c);
        return true;
      case 'mxcsr':
        if ((v & ~0xffffn) !== 0n) return false;
        c.mxcsr = Number(v);
        return true;
      default:
        break;
    }
    const x = c.x87;
    if (g.name.startsWith('st')) {
      const p = x.phys(Number(g.name.slice(2)));
      const dv = new DataView(value.buffer, value.byteOffset, 10);
      x.setReg(p, dv.getUint16(8, true), dv.getUint32(4, true), dv.getUint32(0, true));
      return true;
    }
    if (g.name.startsWith('xmm')) {
      const i = Number(g.name.slice(3));
      const dv = new DataView(value.buffer, value.byteOffset, 16);
      for (let k = 0; k < 4; k++) c.xmm[4 * i + k] = dv.getInt32(4 * k, true);
      return true;
    }
    const n = Number(v & 0xffffn);
    switch (g.name) {
      case 'fctrl':
        x.cw = n;
        return true;
      case 'fstat':
        x.setStatusWord(n);
        return true;
      case 'ftag':
        x.setTagWord(n);
        return true;
      default:
        // Segment selectors, bases and system registers: their loads have checks and side effects a
        // debug-client write would bypass, so they are read-only here.
        return false;
    }
  }

  /** Guest-physical address of `addr` for thread `t`, or -1. */
  private phys(t: number, addr: bigint, physical: boolean): number {
    if (physical) return Number(addr);
    return peekTranslate(this.cpu(t), addr);
  }

  readMemory(t: number, addr: bigint, len: number, physical: boolean): Uint8Array {
    const c = this.cpu(t);
    const out: number[] = [];
    let a = addr;
    while (out.length < len) {
      const pa = this.phys(t, a, physical);
      if (pa < 0) break;
      const r = ramAt(c, pa);
      if (r === undefined) break;
      // Up to the end of the page (virtual) or of the RAM region (physical).
      const pageLeft = physical ? r.gpa + r.size - pa : 4096 - Number(a & 0xfffn);
      const n = Math.min(len - out.length, pageLeft, r.gpa + r.size - pa);
      const o = pa - r.gpa;
      for (let i = 0; i < n; i++) out.push(r.bytes[o + i]!);
      a = (a + BigInt(n)) % U64;
    }
    return Uint8Array.from(out);
  }

  writeMemory(t: number, addr: bigint, data: Uint8Array, physical: boolean): boolean {
    this.history?.branchHere();
    const c = this.cpu(t);
    // Check every byte first: all or nothing.
    const targets: number[] = [];
    for (let i = 0; i < data.length; i++) {
      const pa = this.phys(t, (addr + BigInt(i)) % U64, physical);
      if (pa < 0 || ramAt(c, pa) === undefined) return false;
      targets.push(pa);
    }
    targets.forEach((pa, i) => {
      const r = ramAt(c, pa)!;
      r.bytes[pa - r.gpa] = data[i]!;
      this.vm.memory.markDirty(pa, 1);
      // Decoded code on that page is stale now.
      const page = pa - (pa % 4096);
      if (c.cache.isCode(page)) c.cache.invalidatePage(page, c);
    });
    return true;
  }

  setBreakpoint(type: ZType, addr: bigint, len: number, insert: boolean): boolean {
    addr = BigInt.asUintN(64, addr);
    const a = lin(addr);
    if (type === ZType.Software || type === ZType.Hardware) {
      if (insert) this.userBreakpoints.add(addr);
      else this.userBreakpoints.delete(addr);
    } else {
      if (len < 1 || len > 4096) return false;
      const kind = type === ZType.Write ? 'write' : type === ZType.Read ? 'read' : 'access';
      const i = this.userWatches.findIndex((w) => w.lin === a && (w.addr ?? addr) === addr && w.len === len && w.kind === kind);
      // Beyond +-2^53 (5-level paging) the double is rounded: the watch keeps the exact address beside it.
      const exact = a <= -(2 ** 53) || a >= 2 ** 53 ? { addr } : {};
      if (insert && i < 0) this.userWatches.push({ lin: a, len, kind, ...exact });
      if (!insert && i >= 0) this.userWatches.splice(i, 1);
    }
    this.armUser();
    return true;
  }

  /** The vCPUs check gdb's breakpoints and watchpoints (the recorded run's are armed only during replays). */
  armUser(): void {
    this.breakpoints.clear();
    for (const b of this.userBreakpoints) this.breakpoints.add(b);
    this.watches.length = 0;
    this.watches.push(...this.userWatches);
    // A replay armed what the recorded run had: gdb's own stop point again (spent once vCPU 0 is past it).
    this.debug.forEach((d, i) => (d.stopAt = i === 0 && this.userStopAt > this.vm.cpus[0]!.instructions ? this.userStopAt : -1));
    for (const c of this.vm.cpus) refreshDebug(c, true);
  }

  /** What resume() arms on every vCPU: the thread to step, and a pass over a breakpoint at each RIP. */
  armResume(step: number | null): void {
    this.armUser();
    this.vm.cpus.forEach((c, i) => {
      c.hostStop = HostStop.None;
      // Continue past a breakpoint at RIP (the instruction gdb stopped in front of), and only there: a vCPU
      // that is halted now may first run elsewhere (an interrupt handler) where a breakpoint must hit.
      c.hostResumeAt = ipLin(c);
      this.debug[i]!.step = step === i + 1;
      updateArmed(c);
    });
  }

  reverse(step: number | null): void {
    if (this.history === null) throw new Error(this.reverseRefusal ?? 'no reverse execution');
    this.history.reverse(step);
  }

  resume(step: number | null): void {
    if (this.history !== null) {
      this.history.forward(step);
      return;
    }
    this.armResume(step);
    this.waiting = true;
    this.interrupted = false;
    this.vm.resume();
  }

  interrupt(): void {
    if (this.history !== null) {
      this.history.interrupt();
      return;
    }
    if (!this.waiting) return;
    this.interrupted = true;
    void this.vm.pause().then(() => {
      if (!this.waiting || !this.interrupted) return;
      this.waiting = false;
      this.onStop({ kind: 'signal', thread: 1, signal: SIGINT });
    });
  }

  /** The VM ended (poweroff, exit, triple fault...) while gdb was attached. */
  vmEnded(status: number, detail: string): void {
    this.waiting = false;
    this.onStop({ kind: 'exited', status, detail });
  }

  private cpuStopped(cpu: EmuCpu): void {
    if (this.history !== null) {
      this.history.cpuStopped(cpu);
      return;
    }
    if (!this.waiting) return;
    this.waiting = false;
    this.onStop(stopEventOf(cpu));
  }

  monitor(cmd: string): string | null {
    const [word, arg] = cmd.split(/\s+/);
    if (word === 'help') {
      return [
        'monitor icount          instructions retired by each vCPU',
        'monitor stop-at N       stop vCPU 0 when it has retired N instructions (then continue)',
        'monitor info            backend and vCPU states',
        'monitor reverse         reverse execution: the recorded history, its checkpoints and their memory',
      ].join('\n');
    }
    if (word === 'reverse') return this.history?.describe() ?? `reverse execution is off: ${this.reverseRefusal ?? ''}`;
    if (word === 'icount') return this.vm.cpus.map((c) => `vCPU ${c.index}: ${c.instructions}`).join('\n');
    if (word === 'info') return [`backend emu, ${this.vm.cpus.length} vCPU(s)`, this.reverseRefusal === null ? 'reverse execution: on (monitor reverse)' : `reverse execution: off (${this.reverseRefusal})`, ...this.vm.cpus.map((c) => this.describeThread(c.index + 1))].join('\n');
    if (word === 'stop-at') {
      if (arg === undefined || !/^\d+$/.test(arg)) return 'usage: monitor stop-at N (an instruction count of vCPU 0)';
      const d = this.debug[0]!;
      d.stopAt = Number(arg);
      this.userStopAt = d.stopAt;
      updateArmed(this.vm.cpus[0]!);
      return `vCPU 0 will stop at instruction ${d.stopAt} (now at ${this.vm.cpus[0]!.instructions})`;
    }
    return null;
  }

  detach(): void {
    // Back to the furthest point the run reached, so it goes on from there (and prints nothing twice).
    this.history?.detach();
    this.userBreakpoints.clear();
    this.userWatches.length = 0;
    this.breakpoints.clear();
    this.watches.length = 0;
    for (const d of this.debug) {
      d.step = false;
      d.stopAt = -1;
    }
    for (const c of this.vm.cpus) {
      c.hostDebug = null;
      c.hostStop = HostStop.None;
      refreshDebug(c, true);
    }
    this.vm.onDebugStop = null;
    this.waiting = false;
    this.vm.resume();
  }

  kill(): void {
    this.waiting = false;
    this.hooks.kill();
  }
}

/** The stop event of a vCPU that stopped for the stub (its hostStop), which is cleared. */
export function stopEventOf(cpu: EmuCpu): StopEvent {
  const thread = cpu.index + 1;
  const why = cpu.hostStop;
  cpu.hostStop = HostStop.None;
  if (why === HostStop.Watch) return { kind: 'watch', thread, address: cpu.hostStopWatchAddr ?? u64(cpu.hostStopAddr), watch: cpu.hostStopWatch };
  if (why === HostStop.Breakpoint) return { kind: 'breakpoint', thread };
  return { kind: 'step', thread };
}
