/**
 * A KVM vCPU's state access: register batches from the catalog mapped onto
 * KVM_GET/SET_REGS, SREGS, MSRS, DEBUGREGS, VCPU_EVENTS and MP_STATE. Each batch
 * costs one get (and one set) per structure it touches, whatever its length.
 */
import { KVM_GET_DEBUGREGS, KVM_GET_MP_STATE, KVM_GET_MSRS, KVM_GET_REGS, KVM_GET_SREGS, KVM_GET_VCPU_EVENTS, KVM_MP_STATE, KVM_SET_CPUID2, KVM_SET_DEBUGREGS, KVM_SET_MP_STATE, KVM_SET_MSRS, KVM_SET_REGS, KVM_SET_SREGS, KVM_SET_VCPU_EVENTS } from '../../sys/kvm-abi.js';
import {
  KVM_DEBUGREGS_OFFSET,
  KVM_DEBUGREGS_SIZE,
  KVM_REGS_GPR_OFFSET,
  KVM_REGS_RFLAGS,
  KVM_REGS_RIP,
  KVM_REGS_SIZE,
  KVM_SREGS_APIC_BASE,
  KVM_SREGS_CR_OFFSET,
  KVM_SREGS_EFER,
  KVM_SREGS_GDT,
  KVM_SREGS_IDT,
  KVM_SREGS_SEGMENT_OFFSET,
  KVM_SREGS_SIZE,
  KVM_VCPU_EVENTS_FLAGS,
  KVM_VCPU_EVENTS_INTERRUPT_SHADOW,
  KVM_VCPU_EVENTS_SIZE,
  KVM_VCPUEVENT_VALID_SHADOW,
  applySegmentAttrs,
  decodeMpState,
  decodeMsrs,
  encodeCpuid2,
  encodeMpState,
  encodeMsrs,
  readSegment,
  readU64,
  segmentAttrsFromKvm,
  writeSegment,
  writeU64,
  type CpuidEntry,
} from '../../sys/kvm-structs.js';
import { ioctlPtr, type NativeMapping } from '../../sys/libc.js';
import { MSR, RegSet, SPECIAL_RFLAGS, SPECIAL_RIP, EVENT_HALTED, EVENT_INTERRUPT_SHADOW, describeRegister, regNumber, regSet, type RegId, type RegisterBatch } from '../registers.js';
import type { Vcpu } from '../vm.js';
import { KvmError } from './kvm-error.js';

const RFLAGS_IF = 0x200n;

/** Which KVM structures a batch touches. */
interface Touch {
  regs: boolean;
  sregs: boolean;
  msrs: number[];
  debug: boolean;
  events: boolean;
  mp: boolean;
}

function touched(ids: Iterable<RegId>): Touch {
  const t: Touch = { regs: false, sregs: false, msrs: [], debug: false, events: false, mp: false };
  for (const id of ids) {
    switch (regSet(id)) {
      case RegSet.GPR:
      case RegSet.SPECIAL:
        t.regs = true;
        break;
      case RegSet.SEGMENT:
      case RegSet.DTABLE:
      case RegSet.CONTROL:
        t.sregs = true;
        break;
      case RegSet.MSR: {
        const n = regNumber(id);
        if (n === MSR.IA32_EFER || n === MSR.IA32_APIC_BASE) t.sregs = true;
        else t.msrs.push(n);
        break;
      }
      case RegSet.DEBUG:
        t.debug = true;
        break;
      case RegSet.EVENT:
        if (regNumber(id) === EVENT_HALTED) t.mp = true;
        else t.events = true;
        break;
      default:
        throw new RangeError(`register set of id ${id} is not supported by the KVM backend`);
    }
  }
  return t;
}

export class KvmVcpu implements Vcpu {
  private readonly regs = new Uint8Array(KVM_REGS_SIZE);
  private readonly sregs = new Uint8Array(KVM_SREGS_SIZE);
  private readonly debugregs = new Uint8Array(KVM_DEBUGREGS_SIZE);
  private readonly events = new Uint8Array(KVM_VCPU_EVENTS_SIZE);
  private readonly mp = new Uint8Array(4);

  constructor(
    readonly index: number,
    /** The vCPU file descriptor (usable from any thread of this process). */
    readonly fd: number,
    /** This thread's mapping of the vCPU's kvm_run page (immediate_exit lives there). */
    readonly run: NativeMapping,
  ) {}

  getRegisters(ids: readonly RegId[]): bigint[] {
    const t = touched(ids);
    this.fetch(t);
    const msrValues = t.msrs.length ? this.getMsrs(t.msrs) : new Map<number, bigint>();
    return ids.map((id) => this.readOne(id, msrValues));
  }

  setRegisters(batch: RegisterBatch): void {
    for (const [id] of batch) {
      const info = describeRegister(id);
      if (info.access === 'read-only') throw new RangeError(`register ${info.name} is read-only`);
    }
    const t = touched(batch.map(([id]) => id));
    this.fetch({ ...t, msrs: [] });
    const msrWrites: [number, bigint][] = [];
    for (const [id, value] of batch) this.writeOne(id, value, msrWrites);
    if (t.regs) ioctlPtr(this.fd, KVM_SET_REGS, this.regs, `KVM_SET_REGS on vCPU ${this.index} failed`);
    if (t.sregs) ioctlPtr(this.fd, KVM_SET_SREGS, this.sregs, `KVM_SET_SREGS on vCPU ${this.index} failed (invalid segment or control register combination)`);
    if (t.debug) ioctlPtr(this.fd, KVM_SET_DEBUGREGS, this.debugregs, `KVM_SET_DEBUGREGS on vCPU ${this.index} failed`);
    if (t.events) {
      new DataView(this.events.buffer).setUint32(KVM_VCPU_EVENTS_FLAGS, KVM_VCPUEVENT_VALID_SHADOW, true);
      ioctlPtr(this.fd, KVM_SET_VCPU_EVENTS, this.events, `KVM_SET_VCPU_EVENTS on vCPU ${this.index} failed`);
    }
    if (t.mp) ioctlPtr(this.fd, KVM_SET_MP_STATE, this.mp, `KVM_SET_MP_STATE on vCPU ${this.index} failed`);
    if (msrWrites.length) this.setMsrs(msrWrites);
  }

  /** Writes MSRs; throws naming the first MSR KVM refused. */
  setMsrs(entries: ReadonlyArray<readonly [number, bigint]>): void {
    const buf = encodeMsrs(entries);
    const n = ioctlPtr(this.fd, KVM_SET_MSRS, buf, `KVM_SET_MSRS on vCPU ${this.index} failed`);
    if (n !== entries.length) {
      const bad = entries[n]!;
      throw new KvmError(`KVM refused MSR 0x${bad[0].toString(16)} = 0x${bad[1].toString(16)} on vCPU ${this.index} (the host does not virtualize it, or the value is invalid)`);
    }
  }

  /** Writes MSRs KVM accepts, in order, and returns how many it took (for best-effort setup). */
  trySetMsrs(entries: ReadonlyArray<readonly [number, bigint]>): number {
    let done = 0;
    let rest = entries;
    while (rest.length) {
      const n = ioctlPtr(this.fd, KVM_SET_MSRS, encodeMsrs(rest), `KVM_SET_MSRS on vCPU ${this.index} failed`);
      done += n;
      rest = rest.slice(n + 1); // skip the refused one
    }
    return done;
  }

  getMsrs(indexes: readonly number[]): Map<number, bigint> {
    const buf = encodeMsrs(indexes.map((i) => [i, 0n] as const));
    const n = ioctlPtr(this.fd, KVM_GET_MSRS, buf, `KVM_GET_MSRS on vCPU ${this.index} failed`);
    if (n !== indexes.length) throw new KvmError(`KVM cannot read MSR 0x${indexes[n]!.toString(16)} on vCPU ${this.index} (not virtualized by this host)`);
    return new Map(decodeMsrs(buf));
  }

  setCpuid(entries: readonly CpuidEntry[]): void {
    ioctlPtr(this.fd, KVM_SET_CPUID2, encodeCpuid2(entries), `KVM_SET_CPUID2 on vCPU ${this.index} failed`);
  }

  mpState(): number {
    ioctlPtr(this.fd, KVM_GET_MP_STATE, this.mp, `KVM_GET_MP_STATE on vCPU ${this.index} failed`);
    return decodeMpState(this.mp);
  }

  setMpState(state: number): void {
    ioctlPtr(this.fd, KVM_SET_MP_STATE, encodeMpState(state), `KVM_SET_MP_STATE on vCPU ${this.index} failed`);
  }

  /** True when nothing but NMI/INIT can wake this vCPU: halted with IF=0, or an AP still waiting for INIT/SIPI. */
  isStuck(): boolean {
    const s = this.mpState();
    if (s === KVM_MP_STATE.UNINITIALIZED || s === KVM_MP_STATE.INIT_RECEIVED) return true;
    if (s !== KVM_MP_STATE.HALTED) return false;
    ioctlPtr(this.fd, KVM_GET_REGS, this.regs, `KVM_GET_REGS on vCPU ${this.index} failed`);
    return (readU64(this.regs, KVM_REGS_RFLAGS) & RFLAGS_IF) === 0n;
  }

  rip(): bigint {
    ioctlPtr(this.fd, KVM_GET_REGS, this.regs, `KVM_GET_REGS on vCPU ${this.index} failed`);
    return readU64(this.regs, KVM_REGS_RIP);
  }

  private fetch(t: Touch): void {
    if (t.regs) ioctlPtr(this.fd, KVM_GET_REGS, this.regs, `KVM_GET_REGS on vCPU ${this.index} failed`);
    if (t.sregs) ioctlPtr(this.fd, KVM_GET_SREGS, this.sregs, `KVM_GET_SREGS on vCPU ${this.index} failed`);
    if (t.debug) ioctlPtr(this.fd, KVM_GET_DEBUGREGS, this.debugregs, `KVM_GET_DEBUGREGS on vCPU ${this.index} failed`);
    if (t.events) ioctlPtr(this.fd, KVM_GET_VCPU_EVENTS, this.events, `KVM_GET_VCPU_EVENTS on vCPU ${this.index} failed`);
    if (t.mp) ioctlPtr(this.fd, KVM_GET_MP_STATE, this.mp, `KVM_GET_MP_STATE on vCPU ${this.index} failed`);
  }

  private readOne(id: RegId, msrs: Map<number, bigint>): bigint {
    const n = regNumber(id);
    switch (regSet(id)) {
      case RegSet.GPR:
        return readU64(this.regs, KVM_REGS_GPR_OFFSET[n]!);
      case RegSet.SPECIAL:
        if (n === SPECIAL_RIP) return readU64(this.regs, KVM_REGS_RIP);
        if (n === SPECIAL_RFLAGS) return readU64(this.regs, KVM_REGS_RFLAGS);
        break;
      case RegSet.SEGMENT: {
        const seg = readSegment(this.sregs, KVM_SREGS_SEGMENT_OFFSET[n >> 2]!);
        switch (n & 3) {
          case 0:
            return BigInt(seg.selector);
          case 1:
            return seg.base;
          case 2:
            return BigInt(seg.limit);
          default:
            return BigInt(segmentAttrsFromKvm(seg));
        }
      }
      case RegSet.DTABLE: {
        const off = n >> 1 === 0 ? KVM_SREGS_GDT : KVM_SREGS_IDT;
        return n & 1 ? BigInt(new DataView(this.sregs.buffer).getUint16(off + 8, true)) : readU64(this.sregs, off);
      }
      case RegSet.CONTROL: {
        const off = KVM_SREGS_CR_OFFSET[n];
        if (off !== undefined) return readU64(this.sregs, off);
        break;
      }
      case RegSet.MSR:
        if (n === MSR.IA32_EFER) return readU64(this.sregs, KVM_SREGS_EFER);
        if (n === MSR.IA32_APIC_BASE) return readU64(this.sregs, KVM_SREGS_APIC_BASE);
        return msrs.get(n) ?? 0n;
      case RegSet.DEBUG: {
        const off = KVM_DEBUGREGS_OFFSET[n];
        if (off !== undefined) return readU64(this.debugregs, off);
        break;
      }
      case RegSet.EVENT:
        if (n === EVENT_HALTED) return decodeMpState(this.mp) === KVM_MP_STATE.HALTED ? 1n : 0n;
        if (n === EVENT_INTERRUPT_SHADOW) return BigInt(this.events[KVM_VCPU_EVENTS_INTERRUPT_SHADOW]!);
        break;
    }
    throw new RangeError(`register ${describeRegister(id).name} is not available on the KVM backend`);
  }

  private writeOne(id: RegId, value: bigint, msrWrites: [number, bigint][]): void {
    const n = regNumber(id);
    switch (regSet(id)) {
      case RegSet.GPR:
        return writeU64(this.regs, KVM_REGS_GPR_OFFSET[n]!, value);
      case RegSet.SPECIAL:
        if (n === SPECIAL_RIP) return writeU64(this.regs, KVM_REGS_RIP, value);
        if (n === SPECIAL_RFLAGS) return writeU64(this.regs, KVM_REGS_RFLAGS, value);
        break;
      case RegSet.SEGMENT: {
        const off = KVM_SREGS_SEGMENT_OFFSET[n >> 2]!;
        const seg = readSegment(this.sregs, off);
        if ((n & 3) === 0) seg.selector = Number(value & 0xffffn);
        else if ((n & 3) === 1) seg.base = value;
        else if ((n & 3) === 2) seg.limit = Number(value & 0xffff_ffffn);
        else applySegmentAttrs(seg, Number(value & 0xffff_ffffn));
        return writeSegment(this.sregs, off, seg);
      }
      case RegSet.DTABLE: {
        const off = n >> 1 === 0 ? KVM_SREGS_GDT : KVM_SREGS_IDT;
        if (n & 1) new DataView(this.sregs.buffer).setUint16(off + 8, Number(value & 0xffffn), true);
        else writeU64(this.sregs, off, value);
        return;
      }
      case RegSet.CONTROL: {
        const off = KVM_SREGS_CR_OFFSET[n];
        if (off !== undefined) return writeU64(this.sregs, off, value);
        break;
      }
      case RegSet.MSR:
        if (n === MSR.IA32_EFER) return writeU64(this.sregs, KVM_SREGS_EFER, value);
        if (n === MSR.IA32_APIC_BASE) return writeU64(this.sregs, KVM_SREGS_APIC_BASE, value);
        msrWrites.push([n, value]);
        return;
      case RegSet.DEBUG: {
        const off = KVM_DEBUGREGS_OFFSET[n];
        if (off !== undefined) return writeU64(this.debugregs, off, value);
        break;
      }
      case RegSet.EVENT:
        if (n === EVENT_HALTED) {
          this.mp.set(encodeMpState(value ? KVM_MP_STATE.HALTED : KVM_MP_STATE.RUNNABLE));
          return;
        }
        if (n === EVENT_INTERRUPT_SHADOW) {
          this.events[KVM_VCPU_EVENTS_INTERRUPT_SHADOW] = Number(value & 3n);
          return;
        }
        break;
    }
    throw new RangeError(`register ${describeRegister(id).name} cannot be written on the KVM backend`);
  }
}
