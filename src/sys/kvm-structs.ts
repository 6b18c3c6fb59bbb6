/**
 * Codecs for the KVM structures tsvmm passes through ioctl (layouts from the kernel's
 * UAPI <linux/kvm.h> and <asm/kvm.h>, x86-64, little-endian). Each struct is a plain
 * Uint8Array the ioctl reads or fills; these helpers encode and decode it.
 */
import { KVM_PMU_EVENT_FILTER_MAX_EVENTS } from './kvm-abi.js';

const LE = true;

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

// ---------------------------------------------------------------- kvm_regs
export const KVM_REGS_SIZE = 144;
/** kvm_regs field order: rax rbx rcx rdx rsi rdi rsp rbp r8..r15 rip rflags (u64 each). */
export const KVM_REGS_FIELDS = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'rflags'] as const;
/** Byte offset in kvm_regs of the GPR with x86 encoding number i (rax=0, rcx=1, ...). */
export const KVM_REGS_GPR_OFFSET: readonly number[] = [0, 2, 3, 1, 6, 7, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15].map((i) => i * 8);
export const KVM_REGS_RIP = 128;
export const KVM_REGS_RFLAGS = 136;

export type KvmRegs = Record<(typeof KVM_REGS_FIELDS)[number], bigint>;

export function decodeRegs(b: Uint8Array): KvmRegs {
  const v = dv(b);
  const out = {} as KvmRegs;
  KVM_REGS_FIELDS.forEach((f, i) => (out[f] = v.getBigUint64(i * 8, LE)));
  return out;
}
export function encodeRegs(r: Partial<KvmRegs>, into: Uint8Array = new Uint8Array(KVM_REGS_SIZE)): Uint8Array {
  const v = dv(into);
  KVM_REGS_FIELDS.forEach((f, i) => {
    const x = r[f];
    if (x !== undefined) v.setBigUint64(i * 8, BigInt.asUintN(64, x), LE);
  });
  return into;
}

// ---------------------------------------------------------------- kvm_segment / kvm_sregs
export const KVM_SEGMENT_SIZE = 24;
export interface KvmSegment {
  base: bigint;
  limit: number;
  selector: number;
  type: number;
  present: number;
  dpl: number;
  db: number;
  s: number;
  l: number;
  g: number;
  avl: number;
  unusable: number;
}

export function readSegment(b: Uint8Array, off: number): KvmSegment {
  const v = dv(b);
  return {
    base: v.getBigUint64(off, LE),
    limit: v.getUint32(off + 8, LE),
    selector: v.getUint16(off + 12, LE),
    type: b[off + 14]!,
    present: b[off + 15]!,
    dpl: b[off + 16]!,
    db: b[off + 17]!,
    s: b[off + 18]!,
    l: b[off + 19]!,
    g: b[off + 20]!,
    avl: b[off + 21]!,
    unusable: b[off + 22]!,
  };
}
export function writeSegment(b: Uint8Array, off: number, s: KvmSegment): void {
  const v = dv(b);
  v.setBigUint64(off, BigInt.asUintN(64, s.base), LE);
  v.setUint32(off + 8, s.limit >>> 0, LE);
  v.setUint16(off + 12, s.selector & 0xffff, LE);
  b[off + 14] = s.type;
  b[off + 15] = s.present;
  b[off + 16] = s.dpl;
  b[off + 17] = s.db;
  b[off + 18] = s.s;
  b[off + 19] = s.l;
  b[off + 20] = s.g;
  b[off + 21] = s.avl;
  b[off + 22] = s.unusable;
  b[off + 23] = 0;
}

/** kvm_segment flag bytes → the catalog's VMX access-rights layout (type, S, DPL, P, AVL, L, D/B, G, unusable). */
export function segmentAttrsFromKvm(s: KvmSegment): number {
  return (
    ((s.type & 0xf) |
      ((s.s & 1) << 4) |
      ((s.dpl & 3) << 5) |
      ((s.present & 1) << 7) |
      ((s.avl & 1) << 12) |
      ((s.l & 1) << 13) |
      ((s.db & 1) << 14) |
      ((s.g & 1) << 15) |
      ((s.unusable & 1) << 16)) >>>
    0
  );
}
/** The inverse of segmentAttrsFromKvm: sets the flag bytes of `s` from VMX access rights. */
export function applySegmentAttrs(s: KvmSegment, attrs: number): void {
  s.type = attrs & 0xf;
  s.s = (attrs >>> 4) & 1;
  s.dpl = (attrs >>> 5) & 3;
  s.present = (attrs >>> 7) & 1;
  s.avl = (attrs >>> 12) & 1;
  s.l = (attrs >>> 13) & 1;
  s.db = (attrs >>> 14) & 1;
  s.g = (attrs >>> 15) & 1;
  s.unusable = (attrs >>> 16) & 1;
}

export const KVM_SREGS_SIZE = 312;
/** Offsets of the segments in kvm_sregs, in the catalog's SEG_NAMES order (es cs ss ds fs gs ldtr tr). */
export const KVM_SREGS_SEGMENT_OFFSET: readonly number[] = [48, 0, 120, 24, 72, 96, 168, 144];
/** kvm_dtable {u64 base; u16 limit; u16 padding[3]} for gdt and idt. */
export const KVM_SREGS_GDT = 192;
export const KVM_SREGS_IDT = 208;
/** Offsets of CR0, CR2, CR3, CR4, CR8 by control-register number. */
export const KVM_SREGS_CR_OFFSET: Readonly<Record<number, number>> = { 0: 224, 2: 232, 3: 240, 4: 248, 8: 256 };
export const KVM_SREGS_EFER = 264;
export const KVM_SREGS_APIC_BASE = 272;
export const KVM_SREGS_INTERRUPT_BITMAP = 280;

export interface KvmDtable {
  base: bigint;
  limit: number;
}
export function readDtable(b: Uint8Array, off: number): KvmDtable {
  const v = dv(b);
  return { base: v.getBigUint64(off, LE), limit: v.getUint16(off + 8, LE) };
}
export function writeDtable(b: Uint8Array, off: number, t: KvmDtable): void {
  const v = dv(b);
  v.setBigUint64(off, BigInt.asUintN(64, t.base), LE);
  v.setUint16(off + 8, t.limit & 0xffff, LE);
  v.setUint16(off + 10, 0, LE);
  v.setUint32(off + 12, 0, LE);
}

export function readU64(b: Uint8Array, off: number): bigint {
  return dv(b).getBigUint64(off, LE);
}
export function writeU64(b: Uint8Array, off: number, x: bigint): void {
  dv(b).setBigUint64(off, BigInt.asUintN(64, x), LE);
}

// ---------------------------------------------------------------- kvm_run
/** kvm_run field offsets (the shared page a vCPU fd mmaps). */
export const KVM_RUN = {
  REQUEST_INTERRUPT_WINDOW: 0,
  IMMEDIATE_EXIT: 1,
  EXIT_REASON: 8,
  READY_FOR_INTERRUPT_INJECTION: 12,
  IF_FLAG: 13,
  FLAGS: 14,
  CR8: 16,
  APIC_BASE: 24,
  /** The exit union starts here. */
  EXIT: 32,
  IO_DIRECTION: 32,
  IO_SIZE: 33,
  IO_PORT: 34,
  IO_COUNT: 36,
  IO_DATA_OFFSET: 40,
  MMIO_PHYS_ADDR: 32,
  MMIO_DATA: 40,
  MMIO_LEN: 48,
  MMIO_IS_WRITE: 52,
  FAIL_ENTRY_REASON: 32,
  FAIL_ENTRY_CPU: 40,
  INTERNAL_SUBERROR: 32,
  INTERNAL_NDATA: 36,
  INTERNAL_DATA: 40,
  SYSTEM_EVENT_TYPE: 32,
  SYSTEM_EVENT_NDATA: 36,
  SYSTEM_EVENT_DATA: 40,
  /** KVM_EXIT_DEBUG: struct kvm_debug_exit_arch {u32 exception; u32 pad; u64 pc; u64 dr6; u64 dr7}. */
  DEBUG_EXCEPTION: 32,
  DEBUG_PC: 40,
  DEBUG_DR6: 48,
  DEBUG_DR7: 56,
  /** sizeof(struct kvm_run) without the padding page that follows. */
  SIZE: 2352,
} as const;

/** The slow-path exit payloads (the hot IO/MMIO fields are read in place by the run loop). */
export interface KvmFailEntry {
  hardwareEntryFailureReason: bigint;
  cpu: number;
}
export function decodeFailEntry(run: Uint8Array): KvmFailEntry {
  const v = dv(run);
  return { hardwareEntryFailureReason: v.getBigUint64(KVM_RUN.FAIL_ENTRY_REASON, LE), cpu: v.getUint32(KVM_RUN.FAIL_ENTRY_CPU, LE) };
}

export interface KvmInternalError {
  suberror: number;
  data: bigint[];
}
/** The kernel fills at most 16 data words. */
export function decodeInternalError(run: Uint8Array): KvmInternalError {
  const v = dv(run);
  const n = Math.min(v.getUint32(KVM_RUN.INTERNAL_NDATA, LE), 16);
  const data: bigint[] = [];
  for (let i = 0; i < n; i++) data.push(v.getBigUint64(KVM_RUN.INTERNAL_DATA + i * 8, LE));
  return { suberror: v.getUint32(KVM_RUN.INTERNAL_SUBERROR, LE), data };
}

export interface KvmSystemEvent {
  type: number;
  data: bigint[];
}
export function decodeSystemEvent(run: Uint8Array): KvmSystemEvent {
  const v = dv(run);
  const n = Math.min(v.getUint32(KVM_RUN.SYSTEM_EVENT_NDATA, LE), 16);
  const data: bigint[] = [];
  for (let i = 0; i < n; i++) data.push(v.getBigUint64(KVM_RUN.SYSTEM_EVENT_DATA + i * 8, LE));
  return { type: v.getUint32(KVM_RUN.SYSTEM_EVENT_TYPE, LE), data };
}

// ---------------------------------------------------------------- kvm_cpuid2 / kvm_cpuid_entry2
export const KVM_CPUID2_HEADER = 8;
export const KVM_CPUID_ENTRY2_SIZE = 40;
export interface CpuidEntry {
  function: number;
  index: number;
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}
/** A kvm_cpuid2 with room for `capacity` entries (for KVM_GET_SUPPORTED_CPUID: nent = capacity). */
export function allocCpuid2(capacity: number): Uint8Array {
  const b = new Uint8Array(KVM_CPUID2_HEADER + capacity * KVM_CPUID_ENTRY2_SIZE);
  dv(b).setUint32(0, capacity, LE);
  return b;
}
export function encodeCpuid2(entries: readonly CpuidEntry[]): Uint8Array {
  const b = allocCpuid2(entries.length);
  const v = dv(b);
  entries.forEach((e, i) => {
    const o = KVM_CPUID2_HEADER + i * KVM_CPUID_ENTRY2_SIZE;
    v.setUint32(o, e.function >>> 0, LE);
    v.setUint32(o + 4, e.index >>> 0, LE);
    v.setUint32(o + 8, e.flags >>> 0, LE);
    v.setUint32(o + 12, e.eax >>> 0, LE);
    v.setUint32(o + 16, e.ebx >>> 0, LE);
    v.setUint32(o + 20, e.ecx >>> 0, LE);
    v.setUint32(o + 24, e.edx >>> 0, LE);
  });
  return b;
}
export function decodeCpuid2(b: Uint8Array): CpuidEntry[] {
  const v = dv(b);
  const n = v.getUint32(0, LE);
  if (KVM_CPUID2_HEADER + n * KVM_CPUID_ENTRY2_SIZE > b.length) throw new RangeError(`kvm_cpuid2 claims ${n} entries but the buffer holds ${Math.floor((b.length - 8) / 40)}`);
  const out: CpuidEntry[] = [];
  for (let i = 0; i < n; i++) {
    const o = KVM_CPUID2_HEADER + i * KVM_CPUID_ENTRY2_SIZE;
    out.push({
      function: v.getUint32(o, LE),
      index: v.getUint32(o + 4, LE),
      flags: v.getUint32(o + 8, LE),
      eax: v.getUint32(o + 12, LE),
      ebx: v.getUint32(o + 16, LE),
      ecx: v.getUint32(o + 20, LE),
      edx: v.getUint32(o + 24, LE),
    });
  }
  return out;
}

// ---------------------------------------------------------------- kvm_msrs / kvm_msr_entry
export const KVM_MSRS_HEADER = 8;
export const KVM_MSR_ENTRY_SIZE = 16;
/** kvm_msrs {u32 nmsrs; u32 pad; kvm_msr_entry {u32 index; u32 reserved; u64 data}[]}. */
export function encodeMsrs(entries: ReadonlyArray<readonly [number, bigint]>): Uint8Array {
  const b = new Uint8Array(KVM_MSRS_HEADER + entries.length * KVM_MSR_ENTRY_SIZE);
  const v = dv(b);
  v.setUint32(0, entries.length, LE);
  entries.forEach(([index, data], i) => {
    const o = KVM_MSRS_HEADER + i * KVM_MSR_ENTRY_SIZE;
    v.setUint32(o, index >>> 0, LE);
    v.setBigUint64(o + 8, BigInt.asUintN(64, data), LE);
  });
  return b;
}
export function decodeMsrs(b: Uint8Array): [number, bigint][] {
  const v = dv(b);
  const n = v.getUint32(0, LE);
  const out: [number, bigint][] = [];
  for (let i = 0; i < n; i++) {
    const o = KVM_MSRS_HEADER + i * KVM_MSR_ENTRY_SIZE;
    out.push([v.getUint32(o, LE), v.getBigUint64(o + 8, LE)]);
  }
  return out;
}

// ---------------------------------------------------------------- small VM structs
export const KVM_USERSPACE_MEMORY_REGION_SIZE = 32;
export function encodeUserspaceMemoryRegion(slot: number, flags: number, guestPhysAddr: number, memorySize: number, userspaceAddr: bigint): Uint8Array {
  const b = new Uint8Array(KVM_USERSPACE_MEMORY_REGION_SIZE);
  const v = dv(b);
  v.setUint32(0, slot, LE);
  v.setUint32(4, flags, LE);
  v.setBigUint64(8, BigInt(guestPhysAddr), LE);
  v.setBigUint64(16, BigInt(memorySize), LE);
  v.setBigUint64(24, userspaceAddr, LE);
  return b;
}

/** kvm_dirty_log {u32 slot; u32 padding; u64 dirty_bitmap (a user pointer)}. */
export function encodeDirtyLog(slot: number, bitmapAddress: bigint): Uint8Array {
  const b = new Uint8Array(16);
  const v = dv(b);
  v.setUint32(0, slot >>> 0, LE);
  v.setBigUint64(8, bitmapAddress, LE);
  return b;
}

/** kvm_irq_level {union {u32 irq; s32 status}; u32 level}. */
export function encodeIrqLevel(irq: number, level: number, into: Uint8Array = new Uint8Array(8)): Uint8Array {
  const v = dv(into);
  v.setUint32(0, irq >>> 0, LE);
  v.setUint32(4, level >>> 0, LE);
  return into;
}

/** kvm_pit_config {u32 flags; u32 pad[15]}. */
/** struct kvm_msi (32 bytes): address_lo, address_hi, data, flags, devid, pad. */
export const KVM_MSI_SIZE = 32;
export function encodeMsi(address: number, data: number, into: Uint8Array = new Uint8Array(KVM_MSI_SIZE)): Uint8Array {
  const v = dv(into);
  v.setUint32(0, address >>> 0, LE);
  v.setUint32(4, Math.floor(address / 0x1_0000_0000) >>> 0, LE);
  v.setUint32(8, data >>> 0, LE);
  v.setUint32(12, 0, LE);
  v.setUint32(16, 0, LE);
  return into;
}

export function encodePitConfig(flags: number): Uint8Array {
  const b = new Uint8Array(64);
  dv(b).setUint32(0, flags >>> 0, LE);
  return b;
}

/** kvm_enable_cap {u32 cap; u32 flags; u64 args[4]; u8 pad[64]}. */
export function encodeEnableCap(cap: number, args: readonly bigint[] = [], flags = 0): Uint8Array {
  if (args.length > 4) throw new RangeError(`kvm_enable_cap takes at most 4 args, got ${args.length}`);
  const b = new Uint8Array(104);
  const v = dv(b);
  v.setUint32(0, cap >>> 0, LE);
  v.setUint32(4, flags >>> 0, LE);
  args.forEach((a, i) => v.setBigUint64(8 + i * 8, BigInt.asUintN(64, a), LE));
  return b;
}

/** kvm_mp_state {u32 mp_state}. */
export function encodeMpState(state: number): Uint8Array {
  const b = new Uint8Array(4);
  dv(b).setUint32(0, state >>> 0, LE);
  return b;
}
export function decodeMpState(b: Uint8Array): number {
  return dv(b).getUint32(0, LE);
}

export interface PmuEventFilter {
  /** KVM_PMU_EVENT_ALLOW (0) or KVM_PMU_EVENT_DENY (1). */
  action: number;
  fixedCounterBitmap: number;
  flags: number;
  /** Raw 64-bit event entries (event select + umask, or the masked-event encoding). */
  events: readonly bigint[];
}
export const KVM_PMU_EVENT_FILTER_HEADER = 32;
/** kvm_pmu_event_filter {u32 action; u32 nevents; u32 fixed_counter_bitmap; u32 flags; u32 pad[4]; u64 events[]}. */
export function encodePmuEventFilter(f: PmuEventFilter): Uint8Array {
  if (f.events.length > KVM_PMU_EVENT_FILTER_MAX_EVENTS) {
    throw new RangeError(`a KVM PMU event filter holds at most ${KVM_PMU_EVENT_FILTER_MAX_EVENTS} events, got ${f.events.length}`);
  }
  const b = new Uint8Array(KVM_PMU_EVENT_FILTER_HEADER + f.events.length * 8);
  const v = dv(b);
  v.setUint32(0, f.action >>> 0, LE);
  v.setUint32(4, f.events.length, LE);
  v.setUint32(8, f.fixedCounterBitmap >>> 0, LE);
  v.setUint32(12, f.flags >>> 0, LE);
  f.events.forEach((e, i) => v.setBigUint64(KVM_PMU_EVENT_FILTER_HEADER + i * 8, BigInt.asUintN(64, e), LE));
  return b;
}

/** kvm_debugregs {u64 db[4]; u64 dr6; u64 dr7; u64 flags; u64 reserved[9]}: offsets by DR number. */
export const KVM_DEBUGREGS_SIZE = 128;
export const KVM_DEBUGREGS_OFFSET: Readonly<Record<number, number>> = { 0: 0, 1: 8, 2: 16, 3: 24, 6: 32, 7: 40 };

/** kvm_vcpu_events: interrupt.shadow byte and the flags telling KVM which parts to set. */
export const KVM_VCPU_EVENTS_SIZE = 64;
export const KVM_VCPU_EVENTS_INTERRUPT_SHADOW = 11;
export const KVM_VCPU_EVENTS_FLAGS = 20;
export const KVM_VCPUEVENT_VALID_SHADOW = 0x4;

// ---------------------------------------------------------------- guest debugging

export const KVM_GUEST_DEBUG_SIZE = 72;

/**
 * struct kvm_guest_debug for KVM_SET_GUEST_DEBUG: `control` (KVM_GUESTDBG_* bits) and the debug registers
 * the host arms for the guest while debugging (DR0-DR3 addresses, DR7 their enables; debugreg[4..5] unused).
 */
export function encodeGuestDebug(control: number, debugreg: readonly bigint[] = []): Uint8Array {
  const b = new Uint8Array(KVM_GUEST_DEBUG_SIZE);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, control >>> 0, true);
  for (let i = 0; i < 8; i++) dv.setBigUint64(8 + 8 * i, BigInt.asUintN(64, debugreg[i] ?? 0n), true);
  return b;
}

export interface KvmDebugExit {
  /** The vector: 1 (#DB: single-step, hardware breakpoint or watchpoint) or 3 (#BP: a software breakpoint). */
  exception: number;
  pc: bigint;
  dr6: bigint;
  dr7: bigint;
}

export function decodeDebugExit(run: Uint8Array): KvmDebugExit {
  const dv = new DataView(run.buffer, run.byteOffset, run.byteLength);
  return {
    exception: dv.getUint32(KVM_RUN.DEBUG_EXCEPTION, true),
    pc: dv.getBigUint64(KVM_RUN.DEBUG_PC, true),
    dr6: dv.getBigUint64(KVM_RUN.DEBUG_DR6, true),
    dr7: dv.getBigUint64(KVM_RUN.DEBUG_DR7, true),
  };
}

// ---------------------------------------------------------------- event channels
/** struct kvm_ioeventfd: datamatch u64 @0, addr u64 @8, len u32 @16, fd s32 @20, flags u32 @24; 64 bytes. */
export const KVM_IOEVENTFD_SIZE = 64;
export function encodeIoeventfd(e: { datamatch: number; addr: number; len: number; fd: number; flags: number }): Uint8Array {
  const b = new Uint8Array(KVM_IOEVENTFD_SIZE);
  const v = dv(b);
  v.setBigUint64(0, BigInt(e.datamatch), LE);
  v.setBigUint64(8, BigInt(e.addr), LE);
  v.setUint32(16, e.len >>> 0, LE);
  v.setInt32(20, e.fd, LE);
  v.setUint32(24, e.flags >>> 0, LE);
  return b;
}

/** struct kvm_irqfd: fd u32 @0, gsi u32 @4, flags u32 @8, resamplefd u32 @12; 32 bytes. */
export const KVM_IRQFD_SIZE = 32;
export function encodeIrqfd(fd: number, gsi: number, flags: number): Uint8Array {
  const b = new Uint8Array(KVM_IRQFD_SIZE);
  const v = dv(b);
  v.setUint32(0, fd >>> 0, LE);
  v.setUint32(4, gsi >>> 0, LE);
  v.setUint32(8, flags >>> 0, LE);
  return b;
}

export type KvmRoute = { readonly gsi: number; readonly type: 'irqchip'; readonly irqchip: number; readonly pin: number } | { readonly gsi: number; readonly type: 'msi'; readonly address: number; readonly data: number };

/** struct kvm_irq_routing: nr u32, flags u32, then 48-byte entries (gsi @0, type @4, flags @8, union @16). */
export const KVM_IRQ_ROUTING_ENTRY_SIZE = 48;
export function encodeIrqRouting(routes: readonly KvmRoute[]): Uint8Array {
  const b = new Uint8Array(8 + routes.length * KVM_IRQ_ROUTING_ENTRY_SIZE);
  const v = dv(b);
  v.setUint32(0, routes.length, LE);
  routes.forEach((r, i) => {
    const o = 8 + i * KVM_IRQ_ROUTING_ENTRY_SIZE;
    v.setUint32(o, r.gsi >>> 0, LE);
    if (r.type === 'irqchip') {
      v.setUint32(o + 4, 1, LE); // KVM_IRQ_ROUTING_IRQCHIP
      v.setUint32(o + 16, r.irqchip, LE);
      v.setUint32(o + 20, r.pin, LE);
    } else {
      v.setUint32(o + 4, 2, LE); // KVM_IRQ_ROUTING_MSI
      v.setUint32(o + 16, r.address >>> 0, LE);
      v.setUint32(o + 20, Math.floor(r.address / 0x1_0000_0000) >>> 0, LE);
      v.setUint32(o + 24, r.data >>> 0, LE);
    }
  });
  return b;
}

/** struct kvm_coalesced_mmio_zone: addr u64 @0, size u32 @8, pio u32 @12; 16 bytes. */
export function encodeCoalescedZone(addr: number, size: number, pio: boolean): Uint8Array {
  const b = new Uint8Array(16);
  const v = dv(b);
  v.setBigUint64(0, BigInt(addr), LE);
  v.setUint32(8, size >>> 0, LE);
  v.setUint32(12, pio ? 1 : 0, LE);
  return b;
}

/** struct kvm_coalesced_mmio_ring: first u32 @0, last u32 @4, entries @8 of 24 bytes (phys_addr u64, len u32, pio u32, data[8]). */
export const COALESCED_RING = { FIRST: 0, LAST: 4, ENTRIES: 8, ENTRY_SIZE: 24, E_ADDR: 0, E_LEN: 8, E_PIO: 12, E_DATA: 16, MAX: Math.floor((4096 - 8) / 24) } as const;

// ---------------------------------------------------------------- FPU state and address translation

/**
 * struct kvm_fpu (KVM_GET_FPU/KVM_SET_FPU), 416 bytes: fpr[8][16] in ST order (ST0 first, 80-bit values in the
 * low 10 bytes), fcw, fsw, ftwx (the abridged FXSAVE tag byte: bit i set = physical register i not empty),
 * last_opcode, last_ip, last_dp, xmm[16][16], mxcsr.
 */
export const KVM_FPU = { SIZE: 416, FPR: 0, FCW: 128, FSW: 130, FTWX: 132, LAST_OPCODE: 134, LAST_IP: 136, LAST_DP: 144, XMM: 152, MXCSR: 408 } as const;

/** struct kvm_translation: linear_address u64 @0 in; physical_address u64 @8, valid u8 @16, writeable @17, usermode @18 out. */
export const KVM_TRANSLATION_SIZE = 24;
export function encodeTranslation(linear: bigint, into: Uint8Array = new Uint8Array(KVM_TRANSLATION_SIZE)): Uint8Array {
  into.fill(0);
  dv(into).setBigUint64(0, BigInt.asUintN(64, linear), LE);
  return into;
}
export function decodeTranslation(b: Uint8Array): { valid: boolean; physical: bigint; writeable: boolean; usermode: boolean } {
  return { physical: dv(b).getBigUint64(8, LE), valid: b[16] !== 0, writeable: b[17] !== 0, usermode: b[18] !== 0 };
}
