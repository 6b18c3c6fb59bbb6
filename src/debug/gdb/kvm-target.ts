/**
 * The gdb stub's target on the kvm backend, over KVM_SET_GUEST_DEBUG (x87/SSE registers through the XSAVE area,
 * src/cpu/kvm/xsave-state.ts):
 * - `hbreak` (Z1), watchpoints (Z2-Z4) and, where INT3 does not work, `break` (Z0) take the four debug-register
 *   slots of kvm_guest_debug.arch (KVM_GUESTDBG_USE_HW_BP); while gdb debugs, these replace the guest's own DR0-DR7.
 * - `break` (Z0) patches an INT3 into guest memory (KVM_GUESTDBG_USE_SW_BP) where the probe showed KVM reports it.
 * - `stepi` is KVM_GUESTDBG_SINGLESTEP on that vCPU (with KVM_GUESTDBG_BLOCKIRQ where supported).
 * - KVM_EXIT_DEBUG reaches `debugExit` on the main thread (KvmVm); the first one pauses the whole VM (all-stop).
 * Resuming from an instruction breakpoint at a vCPU's RIP steps that vCPU over it first (with that breakpoint off),
 * as setting RFLAGS.RF is not honoured by every KVM (kvm_pvm's ring-0 emulator ignores it).
 */
import type { KvmVm } from '../../cpu/kvm/kvm-vm.js';
import type { KvmVcpu } from '../../cpu/kvm/kvm-vcpu.js';
import type { GuestDebugSupport } from '../../cpu/kvm/guest-debug-probe.js';
import { KVM_GET_REGS, KVM_GET_SREGS, KVM_GUESTDBG, KVM_MP_STATE, KVM_SET_GUEST_DEBUG, KVM_SET_REGS, KVM_TRANSLATE } from '../../sys/kvm-abi.js';
import { XSTATE_SSE, XSTATE_X87, fpuAccess, legacyImage, readXsaveArea, setLegacyImage, writeXsaveArea, type FpuAccess } from '../../cpu/kvm/xsave-state.js';
import {
  KVM_REGS_GPR_OFFSET,
  KVM_REGS_RFLAGS,
  KVM_REGS_RIP,
  KVM_REGS_SIZE,
  KVM_SREGS_CR_OFFSET,
  KVM_SREGS_EFER,
  KVM_SREGS_SEGMENT_OFFSET,
  KVM_SREGS_SIZE,
  decodeTranslation,
  encodeGuestDebug,
  encodeTranslation,
  readSegment,
  readU64,
  writeU64,
  type KvmDebugExit,
} from '../../sys/kvm-structs.js';
import { ioctlPtr, ioctlPtrRaw } from '../../sys/libc.js';
import { MSR } from '../../cpu/registers.js';
import { GDB_REGISTERS } from './target-description.js';
import { ZType, type GdbTarget, type StopEvent, type StopNote, type WatchKind } from './gdb-target.js';
import { SIGINT, SIGTRAP } from './gdb-session.js';
import { fullTagWord } from './x87-tags.js';
import { fromLe, leBytes } from './le-bytes.js';

/** gdb's GPR order → the x86 register number KVM_REGS_GPR_OFFSET is indexed by. */
const GPR_INDEX = [0, 3, 1, 2, 6, 7, 5, 4, 8, 9, 10, 11, 12, 13, 14, 15];
/** gdb's segment order (cs, ss, ds, es, fs, gs) → the SEG_NAMES index KVM_SREGS_SEGMENT_OFFSET uses. */
const SEG_INDEX = [1, 2, 3, 0, 4, 5];
const G = KVM_GUESTDBG;
const DR6_BS = 1n << 14n;
const PAGE = 4096n;
const U64 = 1n << 64n;

interface HwSlot {
  readonly addr: bigint;
  readonly len: number;
  /** 'exec' for instruction breakpoints. */
  readonly kind: 'exec' | WatchKind;
  /** Z0 taking a slot where INT3 does not work: removed by z0, not z1. */
  readonly z: ZType;
}

/** A write watchpoint kept by single-stepping (where KVM's data breakpoints do not fire): its bytes as last seen. */
interface StepWatch {
  readonly addr: bigint;
  readonly phys: readonly number[];
  last: Uint8Array;
}

/** A read or access watchpoint kept by guarding its pages (where KVM's data breakpoints do not fire). */
interface GuardWatch {
  readonly addr: bigint;
  readonly kind: 'read' | 'access';
  /** Guest-physical address of each watched byte. */
  readonly phys: readonly number[];
}

interface SwBreak {
  readonly phys: number;
  readonly orig: number;
}

/** DR7's R/W field per kind (read-only watches use read/write: x86 has no read-only breakpoint). */
const RW: Record<HwSlot['kind'], bigint> = { exec: 0n, write: 1n, read: 3n, access: 3n };
/** DR7's LEN field per length. */
const LEN: Record<number, bigint> = { 1: 0n, 2: 1n, 4: 3n, 8: 2n };

interface VcpuCache {
  regs?: Uint8Array;
  sregs?: Uint8Array;
  /** The XSAVE area (or KVM_GET_FPU's state in that form) and its legacy image with init components applied. */
  fpu?: { area: Uint8Array; fx: Uint8Array };
}

/** The 64-bit FXSAVE image's fields (SDM vol. 1, "FXSAVE"). */
const FX = { FCW: 0, FSW: 2, FTW: 4, FOP: 6, FIP: 8, FDP: 16, MXCSR: 24, ST: 32, XMM: 160 } as const;

export interface KvmTargetHooks {
  /** Ends the VM (gdb `kill`). */
  kill(): void;
}

export class KvmGdbTarget implements GdbTarget {
  onStop: (e: StopEvent & StopNote) => void = () => undefined;
  private readonly slots: (HwSlot | undefined)[] = [undefined, undefined, undefined, undefined];
  private readonly swBreaks = new Map<bigint, SwBreak>();
  private readonly stepWatches: StepWatch[] = [];
  private readonly guardWatches: GuardWatch[] = [];
  /** Pages found to hold code a vCPU executes: KVM cannot run code from a guarded page, so they are not guarded again. */
  private readonly codePages = new Set<number>();
  /** vCPUs (0-based) whose current instruction touched a guarded watch: stepping to stop after it. */
  private readonly guardHits = new Map<number, GuardWatch>();
  /** Guard watches an emulation failure removed (`kind@addr`): refused when gdb inserts them again. */
  private readonly refusedWatches = new Set<string>();
  /** Why the last guard could not be set, for monitor info. */
  private guardRefusal: string | undefined;
  /** A stop's line for gdb's console. */
  private note: string | undefined;
  private readonly cache = new Map<number, VcpuCache>();
  /** vCPUs stepping over a breakpoint at their RIP (not a gdb step): the INT3 to put back, if any. */
  private readonly steppingOver = new Map<number, bigint | null>();
  private stepThread: number | null = null;
  private waiting = false;
  /** The VM ended: its vCPU fds are closed, nothing may touch them. */
  private ended = false;
  private stop: StopEvent | undefined;
  private readonly fpuAccess: FpuAccess;

  constructor(
    private readonly vm: KvmVm,
    private readonly support: GuestDebugSupport,
    private readonly hooks: KvmTargetHooks,
  ) {
    vm.debugExit = (i, e) => this.debugExit(i, e);
    vm.guardAccess = (i, addr, data, write) => this.guardAccess(i, addr, data, write);
    vm.emulationFailure = (i, rip) => this.guardedFetch(i, rip);
    this.fpuAccess = fpuAccess((cap) => vm.checkExtension(cap));
  }

  get threadCount(): number {
    return this.vm.vcpus.length;
  }

  private vcpu(t: number): KvmVcpu {
    return this.vm.vcpus[t - 1] ?? this.vm.vcpus[0]!;
  }

  private state(t: number): VcpuCache {
    let c = this.cache.get(t);
    if (c === undefined) this.cache.set(t, (c = {}));
    return c;
  }

  private regs(t: number): Uint8Array {
    const c = this.state(t);
    if (c.regs === undefined) {
      c.regs = new Uint8Array(KVM_REGS_SIZE);
      ioctlPtr(this.vcpu(t).fd, KVM_GET_REGS, c.regs, `KVM_GET_REGS on vCPU ${t - 1} failed`);
    }
    return c.regs;
  }

  private sregs(t: number): Uint8Array {
    const c = this.state(t);
    if (c.sregs === undefined) {
      c.sregs = new Uint8Array(KVM_SREGS_SIZE);
      ioctlPtr(this.vcpu(t).fd, KVM_GET_SREGS, c.sregs, `KVM_GET_SREGS on vCPU ${t - 1} failed`);
    }
    return c.sregs;
  }

  /** x87/SSE state as the guest has it: KVM_GET_FPU alone shows MXCSR 0 on a vCPU that never used SSE. */
  private fpu(t: number): { area: Uint8Array; fx: Uint8Array } {
    const c = this.state(t);
    if (c.fpu === undefined) {
      const area = readXsaveArea(this.vcpu(t).fd, this.fpuAccess, `vCPU ${t - 1}`);
      c.fpu = { area, fx: legacyImage(area) };
    }
    return c.fpu;
  }

  /** The linear address of thread t's RIP (CS base + RIP; the base is 0 in long mode). */
  private linearRip(t: number): bigint {
    const cs = readSegment(this.sregs(t), KVM_SREGS_SEGMENT_OFFSET[1]!);
    return (readU64(this.regs(t), KVM_REGS_RIP) + (this.longMode(t) ? 0n : cs.base)) % U64;
  }

  private longMode(t: number): boolean {
    const cs = readSegment(this.sregs(t), KVM_SREGS_SEGMENT_OFFSET[1]!);
    return (readU64(this.sregs(t), KVM_SREGS_EFER) & 0x400n) !== 0n && cs.l === 1;
  }

  describeThread(t: number): string {
    const s = this.sregs(t);
    const cs = readSegment(s, KVM_SREGS_SEGMENT_OFFSET[1]!);
    const cr0 = readU64(s, KVM_SREGS_CR_OFFSET[0]!);
    const mode = this.longMode(t) ? 'long mode' : (cr0 & 1n) === 0n ? 'real mode' : `${cs.db ? 32 : 16}-bit protected mode`;
    const mp = this.vcpu(t).mpState();
    const state = mp === KVM_MP_STATE.HALTED ? 'halted' : mp === KVM_MP_STATE.UNINITIALIZED || mp === KVM_MP_STATE.INIT_RECEIVED ? 'waiting for SIPI' : 'running';
    return `vCPU ${t - 1}, ${mode}, CPL ${readSegment(s, KVM_SREGS_SEGMENT_OFFSET[2]!).dpl}, ${state}`;
  }

  readRegister(t: number, reg: number): Uint8Array | null {
    const g = GDB_REGISTERS[reg];
    if (g === undefined) return null;
    if (reg < 16) return leBytes(readU64(this.regs(t), KVM_REGS_GPR_OFFSET[GPR_INDEX[reg]!]!), 8);
    const s = (): Uint8Array => this.sregs(t);
    switch (g.name) {
      case 'rip':
        return leBytes(readU64(this.regs(t), KVM_REGS_RIP), 8);
      case 'eflags':
        return leBytes(readU64(this.regs(t), KVM_REGS_RFLAGS) & 0xffff_ffffn, 4);
      case 'fs_base':
        return leBytes(readSegment(s(), KVM_SREGS_SEGMENT_OFFSET[4]!).base, 8);
      case 'gs_base':
        return leBytes(readSegment(s(), KVM_SREGS_SEGMENT_OFFSET[5]!).base, 8);
      case 'cr0':
      case 'cr2':
      case 'cr3':
      case 'cr4':
      case 'cr8':
        return leBytes(readU64(s(), KVM_SREGS_CR_OFFSET[Number(g.name.slice(2))]!), 8);
      case 'efer':
        return leBytes(readU64(s(), KVM_SREGS_EFER), 8);
      case 'k_gs_base':
        return leBytes(this.vcpu(t).getMsrs([MSR.IA32_KERNEL_GS_BASE]).get(MSR.IA32_KERNEL_GS_BASE) ?? 0n, 8);
      default:
        break;
    }
    const seg = ['cs', 'ss', 'ds', 'es', 'fs', 'gs'].indexOf(g.name);
    if (seg >= 0) return leBytes(BigInt(readSegment(s(), KVM_SREGS_SEGMENT_OFFSET[SEG_INDEX[seg]!]!).selector), 4);
    const f = this.fpu(t).fx;
    const dv = new DataView(f.buffer);
    if (g.name.startsWith('st')) {
      const i = Number(g.name.slice(2));
      return f.slice(FX.ST + 16 * i, FX.ST + 16 * i + 10);
    }
    if (g.name.startsWith('xmm')) {
      const i = Number(g.name.slice(3));
      return f.slice(FX.XMM + 16 * i, FX.XMM + 16 * i + 16);
    }
    // The 64-bit FXSAVE form KVM uses has 64-bit FIP/FDP and no FCS/FDS: the segments read as 0.
    const fsw = dv.getUint16(FX.FSW, true);
    const values: Record<string, number> = {
      fctrl: dv.getUint16(FX.FCW, true),
      fstat: fsw,
      ftag: fullTagWord(f[FX.FTW]!, fsw, (i) => f.subarray(FX.ST + 16 * i, FX.ST + 16 * i + 10)),
      fiseg: 0,
      fioff: dv.getUint32(FX.FIP, true),
      foseg: 0,
      fooff: dv.getUint32(FX.FDP, true),
      fop: dv.getUint16(FX.FOP, true),
      mxcsr: dv.getUint32(FX.MXCSR, true),
    };
    const v = values[g.name];
    return v === undefined ? null : leBytes(BigInt(v >>> 0), g.bits / 8);
  }

  writeRegister(t: number, reg: number, value: Uint8Array): boolean {
    const g = GDB_REGISTERS[reg];
    if (g === undefined) return false;
    const v = fromLe(value);
    const fd = this.vcpu(t).fd;
    const setRegs = (off: number, x: bigint): boolean => {
      const r = this.regs(t);
      writeU64(r, off, x);
      ioctlPtr(fd, KVM_SET_REGS, r, `KVM_SET_REGS on vCPU ${t - 1} failed`);
      return true;
    };
    if (reg < 16) return setRegs(KVM_REGS_GPR_OFFSET[GPR_INDEX[reg]!]!, v);
    if (g.name === 'rip') return setRegs(KVM_REGS_RIP, v);
    // Reserved bit 1 stays set; VM (bit 17) is not gdb's to change.
    if (g.name === 'eflags') return setRegs(KVM_REGS_RFLAGS, (v & 0x3d7fd5n) | 2n);
    const { area, fx: f } = this.fpu(t);
    const dv = new DataView(f.buffer);
    let component = XSTATE_X87;
    if (g.name.startsWith('st')) f.set(value.subarray(0, 10), FX.ST + 16 * Number(g.name.slice(2)));
    else if (g.name.startsWith('xmm')) {
      f.set(value.subarray(0, 16), FX.XMM + 16 * Number(g.name.slice(3)));
      component = XSTATE_SSE;
    } else if (g.name === 'fctrl') dv.setUint16(FX.FCW, Number(v & 0xffffn), true);
    else if (g.name === 'fstat') dv.setUint16(FX.FSW, Number(v & 0xffffn), true);
    else if (g.name === 'ftag') {
      // FXSAVE's abridged tag: a register is valid unless its two tag bits say empty (11).
      let ab = 0;
      for (let i = 0; i < 8; i++) if (((Number(v) >> (2 * i)) & 3) !== 3) ab |= 1 << i;
      f[FX.FTW] = ab;
    } else if (g.name === 'mxcsr') {
      if ((v & ~0xffffn) !== 0n) return false;
      dv.setUint32(FX.MXCSR, Number(v), true);
      component = XSTATE_SSE;
    } else {
      // Segment selectors, bases and system registers: their loads have checks and side effects a
      // gdb write would bypass (as on emu).
      return false;
    }
    // Marked in use: XRSTOR would otherwise load a component whose XSTATE_BV bit is clear as its init state.
    setLegacyImage(area, f, component);
    writeXsaveArea(fd, this.fpuAccess, area, `vCPU ${t - 1}`);
    return true;
  }

  private readonly translation = encodeTranslation(0n);
  /** Guest-physical address of a linear address through thread t's page tables (KVM_TRANSLATE), or -1. */
  private phys(t: number, addr: bigint, physical: boolean): number {
    if (physical) return addr < BigInt(Number.MAX_SAFE_INTEGER) ? Number(addr) : -1;
    const page = addr - (addr % PAGE);
    if (ioctlPtrRaw(this.vcpu(t).fd, KVM_TRANSLATE, encodeTranslation(page, this.translation)) < 0) return -1;
    const r = decodeTranslation(this.translation);
    return r.valid ? Number(r.physical) + Number(addr % PAGE) : -1;
  }

  readMemory(t: number, addr: bigint, len: number, physical: boolean): Uint8Array {
    const out: number[] = [];
    let a = addr;
    while (out.length < len) {
      const pa = this.phys(t, a, physical);
      const r = pa < 0 ? undefined : this.vm.memory.find(pa);
      if (r === undefined) break;
      const pageLeft = physical ? r.gpa + r.size - pa : 4096 - Number(a % PAGE);
      const n = Math.min(len - out.length, pageLeft, r.gpa + r.size - pa);
      const o = pa - r.gpa;
      for (let i = 0; i < n; i++) out.push(r.bytes[o + i]!);
      // gdb sees the original bytes under its INT3s.
      for (const b of this.swBreaks.values()) if (b.phys >= pa && b.phys < pa + n) out[out.length - n + (b.phys - pa)] = b.orig;
      a = (a + BigInt(n)) % U64;
    }
    return Uint8Array.from(out);
  }

  writeMemory(t: number, addr: bigint, data: Uint8Array, physical: boolean): boolean {
    const targets: number[] = [];
    for (let i = 0; i < data.length; i++) {
      const pa = this.phys(t, (addr + BigInt(i)) % U64, physical);
      if (pa < 0 || this.vm.memory.find(pa) === undefined) return false;
      targets.push(pa);
    }
    targets.forEach((pa, i) => {
      const under = [...this.swBreaks.entries()].find(([, b]) => b.phys === pa);
      // A write over one of our INT3s changes what is restored, and the INT3 stays.
      if (under !== undefined) this.swBreaks.set(under[0], { phys: pa, orig: data[i]! });
      else this.vm.memory.write(pa, data.subarray(i, i + 1));
    });
    return true;
  }

  setBreakpoint(type: ZType, addr: bigint, len: number, insert: boolean): boolean {
    if (type === ZType.Software && this.support.swBreak) return insert ? this.insertSw(addr) : this.removeSw(addr);
    const kind: HwSlot['kind'] = type === ZType.Software || type === ZType.Hardware ? 'exec' : type === ZType.Write ? 'write' : type === ZType.Read ? 'read' : 'access';
    if (kind !== 'exec' && !this.support.hwWatch) return kind === 'write' ? this.setStepWatch(addr, len, insert) : this.setGuardWatch(addr, len, kind, insert);
    const size = kind === 'exec' ? 1 : len;
    if (!insert) {
      const i = this.slots.findIndex((s) => s !== undefined && s.addr === addr && s.kind === kind && s.z === type);
      if (i >= 0) this.slots[i] = undefined;
      return true;
    }
    if (LEN[size] === undefined || addr % BigInt(size) !== 0n) return false;
    if (this.slots.some((s) => s !== undefined && s.addr === addr && s.kind === kind && s.z === type)) return true;
    const free = this.slots.indexOf(undefined);
    if (free < 0) return false;
    this.slots[free] = { addr, len: size, kind, z: type };
    return true;
  }

  /**
   * Where data breakpoints do not fire (kvm_pvm), a write watchpoint single-steps every vCPU and compares the
   * watched bytes after each instruction: slow (an exit per instruction) but exact, and without gdb's round trip
   * per step that its own software watchpoints cost. Reads cannot be seen this way.
   */
  private setStepWatch(addr: bigint, len: number, insert: boolean): boolean {
    const at = this.stepWatches.findIndex((w) => w.addr === addr && w.phys.length === len);
    if (!insert) {
      if (at >= 0) this.stepWatches.splice(at, 1);
      return true;
    }
    if (at >= 0) return true;
    if (len < 1 || len > 64) return false;
    const phys: number[] = [];
    for (let i = 0; i < len; i++) {
      const pa = this.phys(1, (addr + BigInt(i)) % U64, false);
      if (pa < 0 || this.vm.memory.find(pa) === undefined) return false;
      phys.push(pa);
    }
    this.stepWatches.push({ addr, phys, last: this.physBytes(phys) });
    return true;
  }

  /**
   * Where data breakpoints do not fire (kvm_pvm), a read or access watchpoint takes its pages out of the memory
   * slots (KvmVm.guardPages): every access to them is an MMIO exit that guardAccess completes against RAM, and
   * an access to the watched bytes steps that vCPU to stop after its instruction. The VM is paused (gdb inserts
   * and removes watchpoints at each resume and stop), so the slots change with no vCPU in KVM_RUN.
   */
  private setGuardWatch(addr: bigint, len: number, kind: 'read' | 'access', insert: boolean): boolean {
    const at = this.guardWatches.findIndex((w) => w.addr === addr && w.kind === kind && w.phys.length === len);
    if (!insert) {
      if (at >= 0) {
        this.guardWatches.splice(at, 1);
        this.applyGuards();
      }
      return true;
    }
    if (at >= 0) return true;
    if (len < 1 || len > 4096 || this.refusedWatches.has(`${kind}@${addr}`)) return false;
    const phys: number[] = [];
    for (let i = 0; i < len; i++) {
      const pa = this.phys(1, (addr + BigInt(i)) % U64, false);
      if (pa < 0 || this.vm.memory.find(pa) === undefined) return false;
      phys.push(pa);
    }
    const pages = new Set(phys.map((pa) => pa - (pa % 4096)));
    // A vCPU about to run code on the page would fail at once.
    for (const v of this.vm.vcpus) {
      const pa = this.phys(v.index + 1, this.linearRip(v.index + 1), false);
      if (pa >= 0 && pages.has(pa - (pa % 4096))) this.codePages.add(pa - (pa % 4096));
    }
    const code = [...pages].find((p) => this.codePages.has(p));
    if (code !== undefined) {
      this.guardRefusal = `${kind} watchpoint at 0x${addr.toString(16)} refused: its page (guest-physical 0x${code.toString(16)}) holds code a vCPU executes, and KVM cannot run code from a guarded page`;
      return false;
    }
    this.guardWatches.push({ addr, kind, phys });
    if (this.applyGuards()) return true;
    this.guardWatches.pop();
    this.applyGuards();
    return false;
  }

  /** Guards the pages of every guard watch (none: the slots as they were). */
  private applyGuards(): boolean {
    const pages = new Set<number>();
    for (const w of this.guardWatches) for (const pa of w.phys) pages.add(pa - (pa % 4096));
    try {
      this.vm.guardPages([...pages]);
      return true;
    } catch (e) {
      this.guardRefusal = `read/access watchpoints cannot guard their pages: ${(e as Error).message}`;
      return false;
    }
  }

  /** An MMIO exit of vCPU `i` (main thread, the vCPU waiting): a guarded page's access, done on RAM. */
  private guardAccess(i: number, addr: number, data: Uint8Array, write: boolean): boolean {
    const page = addr - (addr % 4096);
    if (!this.guardWatches.some((w) => w.phys.some((pa) => pa - (pa % 4096) === page))) return false;
    const r = this.vm.memory.find(addr);
    if (r === undefined) return false;
    // KVM splits accesses at page boundaries: this one is inside the page.
    const o = addr - r.gpa;
    if (write) this.vm.memory.write(addr, data);
    else data.set(r.bytes.subarray(o, o + data.length));
    const hit = this.guardWatches.find((w) => (w.kind === 'access' || !write) && w.phys.some((pa) => pa >= addr && pa < addr + data.length)) ?? this.guardHits.get(i);
    if (hit === undefined) return true;
    if (write) {
      // KVM exits for an MMIO write once the instruction is done (RIP past it) and then skips that instruction's
      // single-step trap: stop now (measured on kvm_pvm: a step armed here stopped one instruction late).
      this.guardHits.delete(i);
      this.stop ??= { kind: 'watch', thread: i + 1, address: hit.addr, watch: hit.kind };
      void this.vm.pause().then(() => this.report());
    } else if (!this.guardHits.has(i)) {
      // KVM runs a reading instruction again with the data: a step then stops the vCPU after it.
      this.guardHits.set(i, hit);
      this.arm(i, true, null);
    }
    return true;
  }

  /**
   * An emulation failure of vCPU `i` while pages are guarded. A fetch from a guarded page: the watchpoints there
   * cannot be kept. Elsewhere it may be an access to a guarded page KVM cannot do as MMIO (guest code KVM's emulator
   * does not know): every guard goes. Either way the VM pauses and the vCPU tries the instruction again unguarded
   * when continued (a failure of the guest's own then stops the VM as without gdb).
   */
  private guardedFetch(i: number, rip: bigint): boolean {
    const t = i + 1;
    this.cache.delete(t);
    if (this.guardWatches.length === 0) return false;
    const onPage = (page: number): boolean => this.guardWatches.some((w) => w.phys.some((p) => p - (p % 4096) === page));
    // The instruction's first byte, or its last possible one (an instruction may straddle into the guarded page).
    const page = [0n, 14n]
      .map((d) => this.phys(t, (this.linearRip(t) + d) % U64, false))
      .map((pa) => (pa < 0 ? -1 : pa - (pa % 4096)))
      .find((p) => p >= 0 && onPage(p));
    if (page !== undefined) this.codePages.add(page);
    const dropped = this.guardWatches.filter((w) => page === undefined || w.phys.some((p) => p - (p % 4096) === page));
    for (const w of dropped) {
      this.guardWatches.splice(this.guardWatches.indexOf(w), 1);
      this.refusedWatches.add(`${w.kind}@${w.addr}`);
    }
    const which = dropped.map((w) => `the ${w.kind} watchpoint at 0x${w.addr.toString(16)}`).join(' and ');
    this.note =
      page !== undefined
        ? `tsvmm: vCPU ${i} executes code at 0x${rip.toString(16)} on the page of ${which}: KVM cannot run code from a guarded page, so it is removed (it will not be inserted again; delete it in gdb)`
        : `tsvmm: KVM could not emulate vCPU ${i}'s instruction at 0x${rip.toString(16)} while ${which} guarded pages (an access KVM cannot do as MMIO?): removed (not inserted again; delete in gdb)`;
    this.guardRefusal = this.note;
    if (this.stop === undefined) this.stop = { kind: 'signal', thread: t, signal: SIGTRAP };
    // Unguarded once paused (no vCPU in KVM_RUN then); the vCPU runs the instruction again when resumed.
    void this.vm.pause().then(() => {
      this.applyGuards();
      this.report();
    });
    return true;
  }

  private physBytes(phys: readonly number[]): Uint8Array {
    return Uint8Array.from(phys, (pa) => {
      const r = this.vm.memory.find(pa);
      return r === undefined ? 0 : r.bytes[pa - r.gpa]!;
    });
  }

  /** The first stepped watchpoint whose bytes changed since last seen (all are brought up to date). */
  private stepWatchHit(): StepWatch | undefined {
    let hit: StepWatch | undefined;
    for (const w of this.stepWatches) {
      const now = this.physBytes(w.phys);
      if (now.every((b, k) => b === w.last[k])) continue;
      w.last = now;
      hit ??= w;
    }
    return hit;
  }

  private insertSw(addr: bigint): boolean {
    if (this.swBreaks.has(addr)) return true;
    const pa = this.phys(1, addr, false);
    const r = pa < 0 ? undefined : this.vm.memory.find(pa);
    if (r === undefined) return false;
    this.swBreaks.set(addr, { phys: pa, orig: r.bytes[pa - r.gpa]! });
    this.vm.memory.write(pa, Uint8Array.of(0xcc));
    return true;
  }

  private removeSw(addr: bigint): boolean {
    const b = this.swBreaks.get(addr);
    if (b === undefined) return true;
    this.swBreaks.delete(addr);
    this.vm.memory.write(b.phys, Uint8Array.of(b.orig));
    return true;
  }

  /** kvm_guest_debug for vCPU `i` (0-based): the slots, minus execute breakpoints at `skipAt`, and the step bit. */
  private arm(i: number, step: boolean, skipAt: bigint | null): void {
    let control = 0;
    const dr: bigint[] = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
    this.slots.forEach((s, n) => {
      if (s === undefined || (s.kind === 'exec' && s.addr === skipAt)) return;
      dr[n] = s.addr;
      // Gn enables slot n; R/Wn at bit 16 + 4n, LENn at bit 18 + 4n.
      dr[7]! |= (2n << BigInt(2 * n)) | (RW[s.kind] << BigInt(16 + 4 * n)) | (LEN[s.len]! << BigInt(18 + 4 * n));
    });
    if (dr[7] !== 0n) control |= G.ENABLE | G.USE_HW_BP;
    if (this.swBreaks.size > 0) control |= G.ENABLE | G.USE_SW_BP;
    // Stepped watchpoints step every vCPU, with interrupts (a guest waiting for one must get it).
    if (step || this.stepWatches.length > 0 || this.guardHits.has(i)) control |= G.ENABLE | G.SINGLESTEP;
    if (step && this.support.blockIrq) control |= G.BLOCKIRQ;
    ioctlPtr(this.vm.vcpus[i]!.fd, KVM_SET_GUEST_DEBUG, encodeGuestDebug(control, dr), `KVM_SET_GUEST_DEBUG on vCPU ${i} failed`);
  }

  resume(step: number | null): void {
    this.steppingOver.clear();
    // A hit whose step a stop overtook: the access is done, the stop is gdb's.
    this.guardHits.clear();
    for (const w of this.stepWatches) w.last = this.physBytes(w.phys);
    this.stepThread = step;
    this.vm.vcpus.forEach((_, i) => {
      const t = i + 1;
      const rip = this.linearRip(t);
      const onHw = this.slots.some((s) => s?.kind === 'exec' && s.addr === rip);
      const sw = this.swBreaks.get(rip);
      // A vCPU at one of the breakpoints runs its instruction first: the INT3 comes out for the step.
      if (sw !== undefined) this.vm.memory.write(sw.phys, Uint8Array.of(sw.orig));
      if ((onHw || sw !== undefined) && step !== t) this.steppingOver.set(i, sw !== undefined ? rip : null);
      else if (sw !== undefined && step === t) this.steppingOver.set(i, rip);
      this.arm(i, step === t || this.steppingOver.has(i), onHw ? rip : null);
    });
    this.cache.clear();
    this.stop = undefined;
    this.waiting = true;
    this.vm.resume();
  }

  /** KVM_EXIT_DEBUG of vCPU `i` (main thread, that vCPU out of KVM_RUN): pause the VM for gdb, or let it go on. */
  private debugExit(i: number, e: KvmDebugExit): void {
    const t = i + 1;
    const guardHit = this.guardHits.get(i);
    if (guardHit !== undefined) {
      // The step after the instruction that touched a guarded watch (INT3s a step-over took out go back at the stop).
      this.guardHits.delete(i);
      this.stop ??= { kind: 'watch', thread: t, address: guardHit.addr, watch: guardHit.kind };
      void this.vm.pause().then(() => this.report());
      return;
    }
    const watched = this.stepWatches.length > 0 ? this.stepWatchHit() : undefined;
    // A step and nothing else (no breakpoint slot hit), not one gdb asked for: ours, to step over or watch.
    const ours = e.exception === 1 && (e.dr6 & 0xfn) === 0n && (e.dr6 & DR6_BS) !== 0n && this.stepThread !== t && watched === undefined;
    if (this.steppingOver.has(i)) {
      const put = this.steppingOver.get(i)!;
      this.steppingOver.delete(i);
      if (put !== null) {
        const b = this.swBreaks.get(put);
        if (b !== undefined) this.vm.memory.write(b.phys, Uint8Array.of(0xcc));
      }
      if (ours) {
        // Stepped over the breakpoint: armed as the others are, it runs on.
        this.arm(i, false, null);
        return;
      }
    } else if (ours && this.stepWatches.length > 0) {
      return;
    }
    if (this.stop === undefined) this.stop = watched !== undefined ? { kind: 'watch', thread: t, address: watched.addr, watch: 'write' } : this.classify(t, e);
    void this.vm.pause().then(() => this.report());
  }

  private classify(t: number, e: KvmDebugExit): StopEvent {
    if (e.exception === 3) return this.swBreaks.has(e.pc) ? { kind: 'breakpoint', thread: t } : { kind: 'signal', thread: t, signal: SIGTRAP };
    for (let n = 0; n < 4; n++) {
      const s = this.slots[n];
      if ((e.dr6 & (1n << BigInt(n))) === 0n || s === undefined) continue;
      if (s.kind === 'exec') return { kind: 'breakpoint', thread: t };
      return { kind: 'watch', thread: t, address: s.addr, watch: s.kind };
    }
    if ((e.dr6 & DR6_BS) !== 0n) return { kind: 'step', thread: t };
    return { kind: 'signal', thread: t, signal: SIGTRAP };
  }

  private report(): void {
    if (!this.waiting || this.stop === undefined) return;
    this.waiting = false;
    this.finishStop();
    const note = this.note;
    this.note = undefined;
    this.onStop(note === undefined ? this.stop : { ...this.stop, note });
  }

  /** The VM is paused: INT3s a step-over took out go back. */
  private finishStop(): void {
    for (const put of this.steppingOver.values()) {
      const b = put === null ? undefined : this.swBreaks.get(put);
      if (b !== undefined) this.vm.memory.write(b.phys, Uint8Array.of(0xcc));
    }
    this.steppingOver.clear();
    this.cache.clear();
  }

  interrupt(): void {
    if (!this.waiting) return;
    void this.vm.pause().then(() => {
      if (!this.waiting) return;
      this.stop ??= { kind: 'signal', thread: 1, signal: SIGINT };
      this.report();
    });
  }

  /** The VM ended (poweroff, exit, triple fault...) while gdb was attached. */
  vmEnded(status: number, detail: string): void {
    this.waiting = false;
    this.ended = true;
    this.onStop({ kind: 'exited', status, detail });
  }

  monitor(cmd: string): string | null {
    const [word] = cmd.split(/\s+/);
    if (word === 'help') return 'monitor info            backend, guest-debug facilities and vCPU states';
    if (word === 'info') {
      const s = this.support;
      const facilities = `single-step, hardware breakpoints, ${s.hwWatch ? 'hardware watchpoints' : 'write watchpoints by single-stepping and read/access watchpoints by guarding their pages (no data breakpoints here)'}, ${s.swBreak ? 'INT3 breakpoints' : 'break uses debug registers (INT3 does not work here)'}`;
      return [`backend kvm, ${this.threadCount} vCPU(s): ${facilities}`, ...s.notes.map((n) => `  ${n}`), ...(this.guardRefusal === undefined ? [] : [`  ${this.guardRefusal}`]), 'reverse execution: off (it needs --accel emu --deterministic: kvm has no instruction count to replay to)', ...this.vm.vcpus.map((v) => this.describeThread(v.index + 1))].join('\n');
    }
    if (word === 'icount' || word === 'stop-at') return `monitor ${word}: kvm has no instruction counter (use --accel emu)`;
    return null;
  }

  detach(): void {
    this.waiting = false;
    if (this.ended) return;
    for (const addr of [...this.swBreaks.keys()]) this.removeSw(addr);
    this.slots.fill(undefined);
    this.stepWatches.length = 0;
    this.guardWatches.length = 0;
    this.guardHits.clear();
    this.applyGuards();
    this.steppingOver.clear();
    this.vm.vcpus.forEach((v) => ioctlPtr(v.fd, KVM_SET_GUEST_DEBUG, encodeGuestDebug(0), `KVM_SET_GUEST_DEBUG on vCPU ${v.index} failed`));
    this.cache.clear();
    this.waiting = false;
    this.vm.resume();
  }

  kill(): void {
    this.waiting = false;
    this.hooks.kill();
  }
}
