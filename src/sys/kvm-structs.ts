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

// ---------------------------------------------------------------- snapshot state (vCPU, chips, clock)
// These are also the common form of state whose layout differs between engines: emu converts its
// local APICs, 8259 pair, IOAPIC, 8254 and FPU state to and from them (src/cpu/emu/kvm-forms.ts).

/** kvm_lapic_state: the local APIC's 1 KiB register page, each register a u32 at its xAPIC MMIO offset. */
export const KVM_LAPIC_STATE_SIZE = 1024;
export const APIC_REG = {
  ID: 0x20,
  VERSION: 0x30,
  TPR: 0x80,
  APR: 0x90,
  PPR: 0xa0,
  LDR: 0xd0,
  DFR: 0xe0,
  SVR: 0xf0,
  ISR: 0x100,
  TMR: 0x180,
  IRR: 0x200,
  ESR: 0x280,
  ICR_LO: 0x300,
  ICR_HI: 0x310,
  LVT_TIMER: 0x320,
  LVT_THERMAL: 0x330,
  LVT_PMC: 0x340,
  LVT_LINT0: 0x350,
  LVT_LINT1: 0x360,
  LVT_ERROR: 0x370,
  TMICT: 0x380,
  TMCCT: 0x390,
  TDCR: 0x3e0,
} as const;

export function lapicReg(page: Uint8Array, off: number): number {
  return dv(page).getUint32(off, LE);
}
export function setLapicReg(page: Uint8Array, off: number, v: number): void {
  dv(page).setUint32(off, v >>> 0, LE);
}
/** A 256-bit register (ISR, TMR, IRR): eight u32 at a 16-byte stride, as 32 bytes (bit n = vector n). */
export function lapicVector(page: Uint8Array, off: number): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) out.set(page.subarray(off + i * 16, off + i * 16 + 4), i * 4);
  return out;
}
export function setLapicVector(page: Uint8Array, off: number, bits: Uint8Array): void {
  for (let i = 0; i < 8; i++) page.set(bits.subarray(i * 4, i * 4 + 4), off + i * 16);
}

/** kvm_irqchip {u32 chip_id; u32 pad; union {char dummy[512]; kvm_pic_state; kvm_ioapic_state} chip}: 520 bytes. */
export const KVM_IRQCHIP_SIZE = 520;
export const KVM_IRQCHIP_CHIP = 8;
export function encodeIrqchip(chipId: number, chip: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(KVM_IRQCHIP_SIZE);
  dv(b).setUint32(0, chipId >>> 0, LE);
  b.set(chip.subarray(0, 512), KVM_IRQCHIP_CHIP);
  return b;
}

/** kvm_pic_state: one 8259A, sixteen u8 fields in this order. */
export const KVM_PIC_STATE_FIELDS = [
  'lastIrr', 'irr', 'imr', 'isr', 'priorityAdd', 'irqBase', 'readRegSelect', 'poll',
  'specialMask', 'initState', 'autoEoi', 'rotateOnAutoEoi', 'specialFullyNestedMode', 'init4', 'elcr', 'elcrMask',
] as const;
export const KVM_PIC_STATE_SIZE = 16;
export type KvmPicState = Record<(typeof KVM_PIC_STATE_FIELDS)[number], number>;
export function decodePicState(b: Uint8Array): KvmPicState {
  const out = {} as KvmPicState;
  KVM_PIC_STATE_FIELDS.forEach((f, i) => (out[f] = b[i]!));
  return out;
}
export function encodePicState(s: KvmPicState): Uint8Array {
  return Uint8Array.from(KVM_PIC_STATE_FIELDS, (f) => s[f] & 0xff);
}

/** kvm_ioapic_state: base_address u64 @0, ioregsel u32 @8, id u32 @12, irr u32 @16, redirtbl[24] u64 @24; 216 bytes. */
export const KVM_IOAPIC_STATE_SIZE = 216;
export const KVM_IOAPIC_PINS = 24;
export interface KvmIoapicState {
  baseAddress: bigint;
  ioregsel: number;
  id: number;
  irr: number;
  redirtbl: bigint[];
}
export function decodeIoapicState(b: Uint8Array): KvmIoapicState {
  const v = dv(b);
  return {
    baseAddress: v.getBigUint64(0, LE),
    ioregsel: v.getUint32(8, LE),
    id: v.getUint32(12, LE),
    irr: v.getUint32(16, LE),
    redirtbl: Array.from({ length: KVM_IOAPIC_PINS }, (_, i) => v.getBigUint64(24 + i * 8, LE)),
  };
}
export function encodeIoapicState(s: KvmIoapicState): Uint8Array {
  const b = new Uint8Array(KVM_IOAPIC_STATE_SIZE);
  const v = dv(b);
  v.setBigUint64(0, BigInt.asUintN(64, s.baseAddress), LE);
  v.setUint32(8, s.ioregsel >>> 0, LE);
  v.setUint32(12, s.id >>> 0, LE);
  v.setUint32(16, s.irr >>> 0, LE);
  s.redirtbl.slice(0, KVM_IOAPIC_PINS).forEach((e, i) => v.setBigUint64(24 + i * 8, BigInt.asUintN(64, e), LE));
  return b;
}

/** kvm_pit_channel_state (24 bytes) x3, then u32 flags @72, u32 reserved[9]: kvm_pit_state2, 112 bytes. */
export const KVM_PIT_STATE2_SIZE = 112;
export const KVM_PIT_CHANNEL_SIZE = 24;
export const KVM_PIT_STATE2_FLAGS = 72;
export interface KvmPitChannel {
  count: number;
  latchedCount: number;
  countLatched: number;
  statusLatched: number;
  status: number;
  readState: number;
  writeState: number;
  writeLatch: number;
  rwMode: number;
  mode: number;
  bcd: number;
  gate: number;
  /** Host ktime when the count was loaded (KVM_SET_PIT2 reloads every count, so it is not restored). */
  countLoadTime: bigint;
}
/** read_state / write_state values of a channel (the byte of a 16-bit count that comes next). */
export const KVM_PIT_RW_STATE = { LSB: 1, MSB: 2, WORD0: 3, WORD1: 4 } as const;
export interface KvmPitState2 {
  channels: KvmPitChannel[];
  flags: number;
}
export function decodePitState2(b: Uint8Array): KvmPitState2 {
  const v = dv(b);
  const channels = [0, 1, 2].map((i): KvmPitChannel => {
    const o = i * KVM_PIT_CHANNEL_SIZE;
    return {
      count: v.getUint32(o, LE),
      latchedCount: v.getUint16(o + 4, LE),
      countLatched: b[o + 6]!,
      statusLatched: b[o + 7]!,
      status: b[o + 8]!,
      readState: b[o + 9]!,
      writeState: b[o + 10]!,
      writeLatch: b[o + 11]!,
      rwMode: b[o + 12]!,
      mode: b[o + 13]!,
      bcd: b[o + 14]!,
      gate: b[o + 15]!,
      countLoadTime: v.getBigInt64(o + 16, LE),
    };
  });
  return { channels, flags: v.getUint32(KVM_PIT_STATE2_FLAGS, LE) };
}
export function encodePitState2(s: KvmPitState2): Uint8Array {
  const b = new Uint8Array(KVM_PIT_STATE2_SIZE);
  const v = dv(b);
  s.channels.slice(0, 3).forEach((c, i) => {
    const o = i * KVM_PIT_CHANNEL_SIZE;
    v.setUint32(o, c.count >>> 0, LE);
    v.setUint16(o + 4, c.latchedCount & 0xffff, LE);
    const bytes = [c.countLatched, c.statusLatched, c.status, c.readState, c.writeState, c.writeLatch, c.rwMode, c.mode, c.bcd, c.gate];
    bytes.forEach((x, k) => (b[o + 6 + k] = x & 0xff));
    v.setBigInt64(o + 16, BigInt.asIntN(64, c.countLoadTime), LE);
  });
  v.setUint32(KVM_PIT_STATE2_FLAGS, s.flags >>> 0, LE);
  return b;
}

/** kvm_clock_data: clock u64 @0 (kvmclock ns), flags u32 @8, realtime u64 @16, host_tsc u64 @24; 48 bytes. */
export const KVM_CLOCK_DATA_SIZE = 48;
export function encodeClockData(clockNs: bigint, flags = 0): Uint8Array {
  const b = new Uint8Array(KVM_CLOCK_DATA_SIZE);
  const v = dv(b);
  v.setBigUint64(0, BigInt.asUintN(64, clockNs), LE);
  v.setUint32(8, flags >>> 0, LE);
  return b;
}
export function decodeClockData(b: Uint8Array): { clockNs: bigint; flags: number } {
  const v = dv(b);
  return { clockNs: v.getBigUint64(0, LE), flags: v.getUint32(8, LE) };
}

/** kvm_xcrs: nr_xcrs u32 @0, flags u32 @4, xcrs[16] of {u32 xcr; u32 reserved; u64 value} @8, u64 padding[16]; 392 bytes. */
export const KVM_XCRS_SIZE = 392;
export function encodeXcrs(xcrs: ReadonlyArray<readonly [number, bigint]>): Uint8Array {
  if (xcrs.length > 16) throw new RangeError(`kvm_xcrs holds at most 16 XCRs, got ${xcrs.length}`);
  const b = new Uint8Array(KVM_XCRS_SIZE);
  const v = dv(b);
  v.setUint32(0, xcrs.length, LE);
  xcrs.forEach(([xcr, value], i) => {
    v.setUint32(8 + i * 16, xcr >>> 0, LE);
    v.setBigUint64(16 + i * 16, BigInt.asUintN(64, value), LE);
  });
  return b;
}
export function decodeXcrs(b: Uint8Array): [number, bigint][] {
  const v = dv(b);
  const n = Math.min(v.getUint32(0, LE), 16);
  return Array.from({ length: n }, (_, i) => [v.getUint32(8 + i * 16, LE), v.getBigUint64(16 + i * 16, LE)] as [number, bigint]);
}

/**
 * kvm_xsave: the 4 KiB XSAVE area in standard (non-compacted) form: the 512-byte legacy region (the
 * 64-bit FXSAVE image), then the XSAVE header (XSTATE_BV @512, XCOMP_BV @520), then the extended components.
 */
export const KVM_XSAVE_SIZE = 4096;
export const XSAVE_HEADER_XSTATE_BV = 512;
export const XSAVE_HEADER_XCOMP_BV = 520;
/** A kvm_xsave holding only x87 and SSE state (what an FXSAVE image gives). */
export function xsaveFromFxsave(fxsave: Uint8Array): Uint8Array {
  const b = new Uint8Array(KVM_XSAVE_SIZE);
  b.set(fxsave.subarray(0, 512));
  dv(b).setBigUint64(XSAVE_HEADER_XSTATE_BV, 3n, LE);
  return b;
}

/**
 * kvm_fpu (416 bytes) and the 64-bit FXSAVE image it carries the same facts as: fpr[8][16] @0, fcw @128,
 * fsw @130, ftwx (abridged tag) @132, last_opcode @134, last_ip @136, last_dp @144, xmm[16][16] @152, mxcsr @408.
 */
export const KVM_FPU_SIZE = 416;
export function fxsaveFromKvmFpu(fpu: Uint8Array): Uint8Array {
  const f = dv(fpu);
  const out = new Uint8Array(512);
  const o = dv(out);
  o.setUint16(0, f.getUint16(128, LE), LE);
  o.setUint16(2, f.getUint16(130, LE), LE);
  out[4] = fpu[132]!;
  o.setUint16(6, f.getUint16(134, LE), LE);
  o.setBigUint64(8, f.getBigUint64(136, LE), LE);
  o.setBigUint64(16, f.getBigUint64(144, LE), LE);
  o.setUint32(24, f.getUint32(408, LE), LE);
  o.setUint32(28, 0xffff, LE);
  for (let i = 0; i < 8; i++) out.set(fpu.subarray(i * 16, i * 16 + 10), 32 + i * 16);
  out.set(fpu.subarray(152, 152 + 256), 160);
  return out;
}
export function kvmFpuFromFxsave(fx: Uint8Array): Uint8Array {
  const x = dv(fx);
  const out = new Uint8Array(KVM_FPU_SIZE);
  const o = dv(out);
  for (let i = 0; i < 8; i++) out.set(fx.subarray(32 + i * 16, 32 + i * 16 + 10), i * 16);
  o.setUint16(128, x.getUint16(0, LE), LE);
  o.setUint16(130, x.getUint16(2, LE), LE);
  out[132] = fx[4]!;
  o.setUint16(134, x.getUint16(6, LE), LE);
  o.setBigUint64(136, x.getBigUint64(8, LE), LE);
  o.setBigUint64(144, x.getBigUint64(16, LE), LE);
  out.set(fx.subarray(160, 160 + 256), 152);
  o.setUint32(408, x.getUint32(24, LE), LE);
  return out;
}

/** kvm_vcpu_events, every field (64 bytes; see KVM_VCPU_EVENTS_* above for the two the register catalog uses). */
export interface KvmVcpuEvents {
  exception: { injected: number; nr: number; hasErrorCode: number; pending: number; errorCode: number };
  interrupt: { injected: number; nr: number; soft: number; shadow: number };
  nmi: { injected: number; pending: number; masked: number };
  sipiVector: number;
  flags: number;
  smi: { smm: number; pending: number; smmInsideNmi: number; latchedInit: number };
  tripleFaultPending: number;
  exceptionHasPayload: number;
  exceptionPayload: bigint;
}
export function decodeVcpuEvents(b: Uint8Array): KvmVcpuEvents {
  const v = dv(b);
  return {
    exception: { injected: b[0]!, nr: b[1]!, hasErrorCode: b[2]!, pending: b[3]!, errorCode: v.getUint32(4, LE) },
    interrupt: { injected: b[8]!, nr: b[9]!, soft: b[10]!, shadow: b[11]! },
    nmi: { injected: b[12]!, pending: b[13]!, masked: b[14]! },
    sipiVector: v.getUint32(16, LE),
    flags: v.getUint32(20, LE),
    smi: { smm: b[24]!, pending: b[25]!, smmInsideNmi: b[26]!, latchedInit: b[27]! },
    tripleFaultPending: b[28]!,
    exceptionHasPayload: b[55]!,
    exceptionPayload: v.getBigUint64(56, LE),
  };
}
export function encodeVcpuEvents(e: KvmVcpuEvents): Uint8Array {
  const b = new Uint8Array(KVM_VCPU_EVENTS_SIZE);
  const v = dv(b);
  b.set([e.exception.injected, e.exception.nr, e.exception.hasErrorCode, e.exception.pending], 0);
  v.setUint32(4, e.exception.errorCode >>> 0, LE);
  b.set([e.interrupt.injected, e.interrupt.nr, e.interrupt.soft, e.interrupt.shadow], 8);
  b.set([e.nmi.injected, e.nmi.pending, e.nmi.masked], 12);
  v.setUint32(16, e.sipiVector >>> 0, LE);
  v.setUint32(20, e.flags >>> 0, LE);
  b.set([e.smi.smm, e.smi.pending, e.smi.smmInsideNmi, e.smi.latchedInit], 24);
  b[28] = e.tripleFaultPending;
  b[55] = e.exceptionHasPayload;
  v.setBigUint64(56, BigInt.asUintN(64, e.exceptionPayload), LE);
  return b;
}
