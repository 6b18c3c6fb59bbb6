/**
 * The kvm backend's share of a snapshot (Vm.saveState/restoreState), in the KVM structures that are
 * also the common form across engines (src/cpu/state-forms.ts):
 * - per vCPU: `vcpu.N` (x86-vcpu: KVM_GET_REGS, SREGS, DEBUGREGS, MSRS over the VM's MSR list, the
 *   FXSAVE image and XCR0), `kvm-vcpu.N` (KVM_GET_XSAVE or FPU, VCPU_EVENTS, MP_STATE, the APIC base)
 *   and `lapic.N` (KVM_GET_LAPIC);
 * - the VM: `clock` (KVM_GET_CLOCK), `pic` and `ioapic` (KVM_GET_IRQCHIP), `pit` (KVM_GET_PIT2).
 * A state saved on emu is converted to these forms first (src/cpu/emu/kvm-forms.ts). Every section
 * is checked before any ioctl loads one, so a refused state leaves the VM as it was.
 */
import {
  KVM_GET_CLOCK,
  KVM_GET_DEBUGREGS,
  KVM_GET_IRQCHIP,
  KVM_GET_LAPIC,
  KVM_GET_MP_STATE,
  KVM_GET_PIT2,
  KVM_GET_REGS,
  KVM_GET_SREGS,
  KVM_GET_VCPU_EVENTS,
  KVM_GET_XCRS,
  KVM_IRQCHIP_IOAPIC,
  KVM_IRQCHIP_PIC_MASTER,
  KVM_IRQCHIP_PIC_SLAVE,
  KVM_MP_STATE,
  KVM_SET_CLOCK,
  KVM_SET_DEBUGREGS,
  KVM_SET_IRQCHIP,
  KVM_SET_LAPIC,
  KVM_SET_MP_STATE,
  KVM_SET_PIT2,
  KVM_SET_REGS,
  KVM_SET_SREGS,
  KVM_SET_VCPU_EVENTS,
  KVM_SET_XCRS,
  KVM_VCPUEVENT_VALID_NMI_PENDING,
  KVM_VCPUEVENT_VALID_SIPI_VECTOR,
  KVM_VCPUEVENT_VALID_SMM,
} from '../../sys/kvm-abi.js';
import {
  KVM_CLOCK_DATA_SIZE,
  KVM_DEBUGREGS_OFFSET,
  KVM_DEBUGREGS_SIZE,
  KVM_IOAPIC_STATE_SIZE,
  KVM_IRQCHIP_CHIP,
  KVM_LAPIC_STATE_SIZE,
  KVM_PIC_STATE_SIZE,
  KVM_PIT_STATE2_SIZE,
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
  KVM_VCPU_EVENTS_SIZE,
  KVM_VCPUEVENT_VALID_SHADOW,
  KVM_XCRS_SIZE,
  KVM_XSAVE_SIZE,
  applySegmentAttrs,
  decodeClockData,
  decodeMpState,
  decodeVcpuEvents,
  decodeXcrs,
  encodeClockData,
  encodeIrqchip,
  encodeMpState,
  encodeXcrs,
  readDtable,
  readSegment,
  readU64,
  segmentAttrsFromKvm,
  writeDtable,
  writeSegment,
  writeU64,
} from '../../sys/kvm-structs.js';
import { ioctlPtr } from '../../sys/libc.js';
import { PersistError, prepareRestore, type FieldSpecs, type FieldsOf, type Persist, type PersistRecord, type PersistSchema, type PersistSection } from '../../util/persist.js';
import { MSR } from '../registers.js';
import type { BackendState } from '../vm.js';
import { KVM_CLOCK_SCHEMA, KVM_IOAPIC_SCHEMA, KVM_LAPIC_SCHEMA, KVM_PIC_SCHEMA, KVM_PIT_SCHEMA, KVM_VCPU_SCHEMA, X86_VCPU_SCHEMA } from '../state-forms.js';
import { emuSectionsToKvm } from '../emu/kvm-forms.js';
import type { KvmVcpu } from './kvm-vcpu.js';
import { fpuAccess, legacyImage, readXsaveArea, writeXsaveArea, type FpuAccess } from './xsave-state.js';

type X86Vcpu = FieldsOf<typeof X86_VCPU_SCHEMA.fields>;
type KvmVcpuExtra = FieldsOf<typeof KVM_VCPU_SCHEMA.fields>;

/** What this module needs of a KvmVm (kept narrow: the VM class calls in here). */
export interface KvmStateTarget {
  readonly vmFd: number;
  readonly vcpus: readonly KvmVcpu[];
  checkExtension(cap: 'XSAVE' | 'XSAVE2' | 'XCRS'): number;
  /** The MSRs a vCPU's state holds (KVM_GET_MSR_INDEX_LIST kept to those vCPU 0 can read). */
  msrIndices(): number[];
}

function get(fd: number, req: number, size: number, what: string): Uint8Array {
  const b = new Uint8Array(size);
  ioctlPtr(fd, req, b, `${what} failed`);
  return b;
}

function section<R extends FieldSpecs>(name: string, schema: PersistSchema<R>, fields: FieldsOf<R>): PersistSection {
  return { name, kind: schema.kind, version: schema.version, fields: fields as PersistRecord };
}

/** KVM_GET_IRQCHIP of one chip: the chip union's bytes. */
function getChip(vmFd: number, chipId: number, size: number): Uint8Array {
  const b = encodeIrqchip(chipId);
  ioctlPtr(vmFd, KVM_GET_IRQCHIP, b, `KVM_GET_IRQCHIP (chip ${chipId}) failed`);
  return b.slice(KVM_IRQCHIP_CHIP, KVM_IRQCHIP_CHIP + size);
}

/** The MSRs a vCPU's state carries: the VM's list without the TSC (its own field) and the APIC base/EFER (in SREGS). */
function stateMsrs(vm: KvmStateTarget): number[] {
  return vm.msrIndices().filter((i) => i !== MSR.IA32_TSC && i !== MSR.IA32_APIC_BASE && i !== MSR.IA32_EFER);
}

export function saveKvmVmState(vm: KvmStateTarget): BackendState {
  const clock = decodeClockData(get(vm.vmFd, KVM_GET_CLOCK, KVM_CLOCK_DATA_SIZE, 'KVM_GET_CLOCK'));
  const sections: PersistSection[] = [section('clock', KVM_CLOCK_SCHEMA, { ns: clock.clockNs })];
  const msrList = stateMsrs(vm);
  // The snapshot format holds a 4 KiB area: never KVM_GET_XSAVE2.
  const fpu = fpuAccess((cap) => vm.checkExtension(cap), true);
  const xcrs = vm.checkExtension('XCRS') > 0;
  for (const v of vm.vcpus) {
    const i = v.index;
    const what = (ioctl: string): string => `${ioctl} on vCPU ${i}`;
    const regs = get(v.fd, KVM_GET_REGS, KVM_REGS_SIZE, what('KVM_GET_REGS'));
    const sregs = get(v.fd, KVM_GET_SREGS, KVM_SREGS_SIZE, what('KVM_GET_SREGS'));
    const debugregs = get(v.fd, KVM_GET_DEBUGREGS, KVM_DEBUGREGS_SIZE, what('KVM_GET_DEBUGREGS'));
    const events = get(v.fd, KVM_GET_VCPU_EVENTS, KVM_VCPU_EVENTS_SIZE, what('KVM_GET_VCPU_EVENTS'));
    const mp = decodeMpState(get(v.fd, KVM_GET_MP_STATE, 4, what('KVM_GET_MP_STATE')));
    const area = readXsaveArea(v.fd, fpu, `vCPU ${i}`);
    const xcr0 = xcrs ? decodeXcrs(get(v.fd, KVM_GET_XCRS, KVM_XCRS_SIZE, what('KVM_GET_XCRS'))).find(([n]) => n === 0)?.[1] ?? 1n : 1n;
    const lapic = get(v.fd, KVM_GET_LAPIC, KVM_LAPIC_STATE_SIZE, what('KVM_GET_LAPIC'));
    const msrValues = v.getMsrs([MSR.IA32_TSC, ...msrList]);
    const ev = decodeVcpuEvents(events);
    const x86: X86Vcpu = {
      gpr: KVM_REGS_GPR_OFFSET.map((off) => readU64(regs, off)),
      rip: readU64(regs, KVM_REGS_RIP),
      rflags: readU64(regs, KVM_REGS_RFLAGS),
      segments: KVM_SREGS_SEGMENT_OFFSET.map((off) => {
        const s = readSegment(sregs, off);
        return { selector: s.selector, base: s.base, limit: s.limit, attrs: segmentAttrsFromKvm(s) };
      }),
      gdtr: readDtable(sregs, KVM_SREGS_GDT),
      idtr: readDtable(sregs, KVM_SREGS_IDT),
      cr0: readU64(sregs, KVM_SREGS_CR_OFFSET[0]!),
      cr2: readU64(sregs, KVM_SREGS_CR_OFFSET[2]!),
      cr3: readU64(sregs, KVM_SREGS_CR_OFFSET[3]!),
      cr4: readU64(sregs, KVM_SREGS_CR_OFFSET[4]!),
      cr8: readU64(sregs, KVM_SREGS_CR_OFFSET[8]!),
      dr: [0, 1, 2, 3, 4, 5, 6, 7].map((n) => (KVM_DEBUGREGS_OFFSET[n] === undefined ? 0n : readU64(debugregs, KVM_DEBUGREGS_OFFSET[n]!))),
      efer: readU64(sregs, KVM_SREGS_EFER),
      msrs: msrList.map((index) => ({ index, value: msrValues.get(index) ?? 0n })),
      tsc: msrValues.get(MSR.IA32_TSC) ?? 0n,
      // Components in their init state (XSTATE_BV) as their init values, whatever the area's bytes say.
      fxsave: legacyImage(area),
      // The 64-bit FXSAVE form has no FCS/FDS (KVM's either).
      fcs: 0,
      fds: 0,
      xcr0,
      halted: mp === KVM_MP_STATE.HALTED,
      waitSipi: mp === KVM_MP_STATE.UNINITIALIZED || mp === KVM_MP_STATE.INIT_RECEIVED || mp === KVM_MP_STATE.SIPI_RECEIVED,
      interruptShadow: ev.interrupt.shadow !== 0,
      nmiBlocked: ev.nmi.masked !== 0,
      pendingDebug: 0,
    };
    sections.push(section(`vcpu.${i}`, X86_VCPU_SCHEMA, x86));
    sections.push(section(`kvm-vcpu.${i}`, KVM_VCPU_SCHEMA, { xsave: area, events, mpState: mp, apicBase: readU64(sregs, KVM_SREGS_APIC_BASE) }));
    sections.push(section(`lapic.${i}`, KVM_LAPIC_SCHEMA, { regs: lapic }));
  }
  sections.push(section('pic', KVM_PIC_SCHEMA, { master: getChip(vm.vmFd, KVM_IRQCHIP_PIC_MASTER, KVM_PIC_STATE_SIZE), slave: getChip(vm.vmFd, KVM_IRQCHIP_PIC_SLAVE, KVM_PIC_STATE_SIZE) }));
  sections.push(section('ioapic', KVM_IOAPIC_SCHEMA, { state: getChip(vm.vmFd, KVM_IRQCHIP_IOAPIC, KVM_IOAPIC_STATE_SIZE) }));
  sections.push(section('pit', KVM_PIT_SCHEMA, { state: get(vm.vmFd, KVM_GET_PIT2, KVM_PIT_STATE2_SIZE, 'KVM_GET_PIT2') }));
  return { backend: 'kvm', sections };
}

/** Reads a checked section into `into` (prepareRestore's load step stores the checked fields). */
function collector<R extends FieldSpecs>(schema: PersistSchema<R>, into: (f: FieldsOf<R>) => void): Persist<R> {
  return { persistSchema: schema, saveState: () => { throw new Error('collector only restores'); }, restoreState: into };
}

const exact = (name: string, b: Uint8Array, size: number): Uint8Array => {
  if (b.length !== size) throw new PersistError('persist-invalid', name, `${name}: expected ${size} bytes (the KVM structure), got ${b.length}`);
  return b;
};

export function restoreKvmVmState(vm: KvmStateTarget, saved: BackendState): void {
  const sections = saved.backend === 'emu' ? emuSectionsToKvm(saved.sections) : saved.sections;
  const n = vm.vcpus.length;
  const vcpus: (X86Vcpu | undefined)[] = new Array(n);
  const extras: (KvmVcpuExtra | undefined)[] = new Array(n);
  const lapics: (Uint8Array | undefined)[] = new Array(n);
  let clock: bigint | undefined;
  let pic: { master: Uint8Array; slave: Uint8Array } | undefined;
  let ioapic: Uint8Array | undefined;
  let pit: Uint8Array | undefined;
  const steps: (() => void)[] = [];
  for (const s of sections) {
    const m = /^(vcpu|kvm-vcpu|lapic)\.(\d+)$/.exec(s.name);
    const idx = m ? Number(m[2]) : -1;
    if (m && idx >= n) throw new PersistError('persist-invalid', s.name, `section ${s.name}: the state has more vCPUs than this VM (${n})`);
    if (m?.[1] === 'vcpu') steps.push(prepareRestore(s, collector(X86_VCPU_SCHEMA, (f) => (vcpus[idx] = f))));
    else if (m?.[1] === 'kvm-vcpu') steps.push(prepareRestore(s, collector(KVM_VCPU_SCHEMA, (f) => (extras[idx] = f))));
    else if (m?.[1] === 'lapic') steps.push(prepareRestore(s, collector(KVM_LAPIC_SCHEMA, (f) => (lapics[idx] = exact(s.name, f.regs, KVM_LAPIC_STATE_SIZE)))));
    else if (s.name === 'clock') steps.push(prepareRestore(s, collector(KVM_CLOCK_SCHEMA, (f) => (clock = f.ns))));
    else if (s.name === 'pic') steps.push(prepareRestore(s, collector(KVM_PIC_SCHEMA, (f) => (pic = { master: exact('pic.master', f.master, KVM_PIC_STATE_SIZE), slave: exact('pic.slave', f.slave, KVM_PIC_STATE_SIZE) }))));
    else if (s.name === 'ioapic') steps.push(prepareRestore(s, collector(KVM_IOAPIC_SCHEMA, (f) => (ioapic = exact('ioapic.state', f.state, KVM_IOAPIC_STATE_SIZE)))));
    else if (s.name === 'pit') steps.push(prepareRestore(s, collector(KVM_PIT_SCHEMA, (f) => (pit = exact('pit.state', f.state, KVM_PIT_STATE2_SIZE)))));
    else throw new PersistError('persist-invalid', s.name, `section ${s.name} (${s.kind}) has no counterpart in a kvm VM`);
  }
  for (const step of steps) step();
  for (let i = 0; i < n; i++) {
    for (const [what, v] of [[`vcpu.${i}`, vcpus[i]], [`kvm-vcpu.${i}`, extras[i]], [`lapic.${i}`, lapics[i]]] as const) {
      if (v === undefined) throw new PersistError('persist-invalid', what, `the state has no section ${what} (this VM has ${n} vCPU(s))`);
    }
  }
  if (clock === undefined || pic === undefined || ioapic === undefined || pit === undefined) throw new PersistError('persist-invalid', 'chips', 'the state lacks the clock, pic, ioapic or pit section');
  for (let i = 0; i < n; i++) {
    const xs = extras[i]!.xsave;
    if (xs.length !== KVM_XSAVE_SIZE) throw new PersistError('persist-invalid', `kvm-vcpu.${i}.xsave`, `kvm-vcpu.${i}: the XSAVE area is ${xs.length} bytes, KVM_SET_XSAVE takes ${KVM_XSAVE_SIZE}`);
    exact(`kvm-vcpu.${i}.events`, extras[i]!.events, KVM_VCPU_EVENTS_SIZE);
  }
  // Everything checked: load. The chips first (the LAPICs' LINT0 sees the PIC it is wired to), then each vCPU.
  ioctlPtr(vm.vmFd, KVM_SET_CLOCK, encodeClockData(clock), 'KVM_SET_CLOCK failed');
  ioctlPtr(vm.vmFd, KVM_SET_IRQCHIP, encodeIrqchip(KVM_IRQCHIP_PIC_MASTER, pic.master), 'KVM_SET_IRQCHIP (PIC master) failed');
  ioctlPtr(vm.vmFd, KVM_SET_IRQCHIP, encodeIrqchip(KVM_IRQCHIP_PIC_SLAVE, pic.slave), 'KVM_SET_IRQCHIP (PIC slave) failed');
  ioctlPtr(vm.vmFd, KVM_SET_IRQCHIP, encodeIrqchip(KVM_IRQCHIP_IOAPIC, ioapic), 'KVM_SET_IRQCHIP (IOAPIC) failed');
  ioctlPtr(vm.vmFd, KVM_SET_PIT2, pit, 'KVM_SET_PIT2 failed');
  const listed = new Set(stateMsrs(vm));
  const fpu = fpuAccess((cap) => vm.checkExtension(cap), true);
  const xcrs = vm.checkExtension('XCRS') > 0;
  for (let i = 0; i < n; i++) loadVcpu(vm.vcpus[i]!, vcpus[i]!, extras[i]!, lapics[i]!, listed, fpu, xcrs);
}

/** One vCPU, in the order KVM needs: SREGS (the APIC base) before the LAPIC, the LAPIC (its timer mode) before the TSC deadline. */
function loadVcpu(v: KvmVcpu, x: X86Vcpu, k: KvmVcpuExtra, lapic: Uint8Array, listed: ReadonlySet<number>, fpu: FpuAccess, xcrs: boolean): void {
  const what = (ioctl: string): string => `${ioctl} on vCPU ${v.index} failed`;
  const regs = new Uint8Array(KVM_REGS_SIZE);
  x.gpr.forEach((value, n) => writeU64(regs, KVM_REGS_GPR_OFFSET[n]!, value));
  writeU64(regs, KVM_REGS_RIP, x.rip);
  writeU64(regs, KVM_REGS_RFLAGS, x.rflags);
  ioctlPtr(v.fd, KVM_SET_REGS, regs, what('KVM_SET_REGS'));
  writeXsaveArea(v.fd, fpu, k.xsave, `vCPU ${v.index}`);
  if (xcrs) ioctlPtr(v.fd, KVM_SET_XCRS, encodeXcrs([[0, x.xcr0]]), what('KVM_SET_XCRS (XCR0 0x' + x.xcr0.toString(16) + ')'));
  const sregs = new Uint8Array(KVM_SREGS_SIZE);
  ioctlPtr(v.fd, KVM_GET_SREGS, sregs, what('KVM_GET_SREGS'));
  x.segments.forEach((s, n) => {
    const off = KVM_SREGS_SEGMENT_OFFSET[n]!;
    const seg = readSegment(sregs, off);
    seg.selector = s.selector;
    seg.base = s.base;
    seg.limit = s.limit;
    applySegmentAttrs(seg, s.attrs);
    writeSegment(sregs, off, seg);
  });
  writeDtable(sregs, KVM_SREGS_GDT, x.gdtr);
  writeDtable(sregs, KVM_SREGS_IDT, x.idtr);
  for (const [cr, value] of [[0, x.cr0], [2, x.cr2], [3, x.cr3], [4, x.cr4], [8, x.cr8]] as const) writeU64(sregs, KVM_SREGS_CR_OFFSET[cr]!, value);
  writeU64(sregs, KVM_SREGS_EFER, x.efer);
  writeU64(sregs, KVM_SREGS_APIC_BASE, k.apicBase);
  ioctlPtr(v.fd, KVM_SET_SREGS, sregs, what('KVM_SET_SREGS (segments, control registers, EFER or APIC base refused)'));
  // The VM's own MSRs must all load; others (from emu, or a host with more) load where KVM takes them.
  const deadline = x.msrs.find((m) => m.index === MSR.IA32_TSC_DEADLINE);
  const msrs = x.msrs.filter((m) => m.index !== MSR.IA32_TSC_DEADLINE);
  v.setMsrs([[MSR.IA32_TSC, x.tsc], ...msrs.filter((m) => listed.has(m.index)).map((m) => [m.index, m.value] as const)]);
  const rest = msrs.filter((m) => !listed.has(m.index));
  if (rest.length) v.trySetMsrs(rest.map((m) => [m.index, m.value] as const));
  ioctlPtr(v.fd, KVM_SET_MP_STATE, encodeMpState(k.mpState), what(`KVM_SET_MP_STATE (${k.mpState})`));
  ioctlPtr(v.fd, KVM_SET_LAPIC, lapic, what('KVM_SET_LAPIC'));
  if (deadline !== undefined) v.trySetMsrs([[deadline.index, deadline.value]]);
  const events = k.events.slice();
  // Only the parts every KVM takes (payloads and triple faults need capabilities tsvmm does not enable).
  new DataView(events.buffer).setUint32(KVM_VCPU_EVENTS_FLAGS, KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR | KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM, true);
  events[55] = 0;
  ioctlPtr(v.fd, KVM_SET_VCPU_EVENTS, events, what('KVM_SET_VCPU_EVENTS'));
  const dr = new Uint8Array(KVM_DEBUGREGS_SIZE);
  for (const [n, off] of Object.entries(KVM_DEBUGREGS_OFFSET)) writeU64(dr, off, x.dr[Number(n)] ?? 0n);
  ioctlPtr(v.fd, KVM_SET_DEBUGREGS, dr, what('KVM_SET_DEBUGREGS'));
}
