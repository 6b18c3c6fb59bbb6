/**
 * Emu's chips and vCPU extras to and from the KVM structures, the common form of state whose layout
 * differs between engines (src/cpu/state-forms.ts). A snapshot taken on emu restores on kvm through
 * `emuSectionsToKvm`; one taken on kvm restores on emu through `kvmSectionsToEmu`.
 *
 * What each side lacks is rebuilt as KVM itself rebuilds it: KVM_SET_PIT2 reloads every count and
 * KVM_SET_LAPIC restarts the timer from the current count, so both directions restart the PIT
 * channels and the APIC timer at the moment of the restore (positions inside a PIT period are not
 * carried; the APIC timer's remaining count is). Emu-only bookkeeping (instruction counts, the run
 * point of a deterministic schedule) has no KVM counterpart and is dropped going to kvm; coming
 * from kvm the VM restores as non-deterministic, with its counts where the new VM has them.
 */
import { PersistError, prepareRestore, type FieldsOf, type FieldSpecs, type Persist, type PersistRecord, type PersistSection, type PersistSchema, saveDeadline } from '../../util/persist.js';
import { KVM_MP_STATE, KVM_VCPUEVENT_VALID_NMI_PENDING, KVM_VCPUEVENT_VALID_SIPI_VECTOR, KVM_VCPUEVENT_VALID_SMM, KVM_PIT_FLAGS_SPEAKER_DATA_ON } from '../../sys/kvm-abi.js';
import {
  APIC_REG,
  KVM_VCPUEVENT_VALID_SHADOW,
  KVM_LAPIC_STATE_SIZE,
  KVM_PIT_RW_STATE,
  KVM_XSAVE_SIZE,
  XSAVE_HEADER_XSTATE_BV,
  decodeIoapicState,
  decodePicState,
  decodePitState2,
  decodeVcpuEvents,
  encodeIoapicState,
  encodePicState,
  encodePitState2,
  encodeVcpuEvents,
  lapicReg,
  lapicVector,
  setLapicReg,
  setLapicVector,
  xsaveFromFxsave,
  type KvmPicState,
  type KvmPitChannel,
  type KvmVcpuEvents,
} from '../../sys/kvm-structs.js';
import { KVM_CLOCK_SCHEMA, KVM_IOAPIC_SCHEMA, KVM_LAPIC_SCHEMA, KVM_PIC_SCHEMA, KVM_PIT_SCHEMA, KVM_VCPU_SCHEMA, X86_VCPU_SCHEMA } from '../state-forms.js';
import { LAPIC_SCHEMA, LocalApic } from './chips/local-apic.js';
import { PIC_SCHEMA, ELCR_MASTER_MASK, ELCR_SLAVE_MASK } from './chips/pic-8259.js';
import { IOAPIC_SCHEMA } from './chips/ioapic.js';
import { PIT_SCHEMA } from './chips/pit-8254.js';
import { EMU_EXEC_SCHEMA } from './vcpu-state.js';
import { CLOCK_SCHEMA, PMU_SCHEMA, RUN_POINT_SCHEMA } from './emu-vm-state.js';
import { MSR } from '../registers.js';

type X86Vcpu = FieldsOf<typeof X86_VCPU_SCHEMA.fields>;
type KvmVcpu = FieldsOf<typeof KVM_VCPU_SCHEMA.fields>;
type EmuLapic = FieldsOf<typeof LAPIC_SCHEMA.fields>;
type EmuPic = FieldsOf<typeof PIC_SCHEMA.fields>;
type EmuPicChip = EmuPic['master'];
type EmuIoapic = FieldsOf<typeof IOAPIC_SCHEMA.fields>;
type EmuPit = FieldsOf<typeof PIT_SCHEMA.fields>;
type EmuPitChannel = EmuPit['channels'][number];

const APIC_BASE_BSP = 1n << 8n;
const APIC_BASE_EXTD = 1n << 10n;
const APIC_BASE_EN = 1n << 11n;
const APIC_LVT_MASKED = 0x1_0000;
/** The LVT CMCI register KVM has and emu does not (masked, as after reset). */
const APIC_LVT_CMCI = 0x2f0;
const ICR_DELIVERY_STATUS = 1 << 12;
const TIMER_MODE_PERIODIC = 1;
const TIMER_MODE_TSC_DEADLINE = 2;
/** XSTATE_BV bits emu holds: x87 and SSE. */
const EMU_XSTATE = 3n;

/** Checks a section against a schema and returns its fields (the one way fields are read here). */
function checked<R extends FieldSpecs>(section: PersistSection, schema: PersistSchema<R>): FieldsOf<R> {
  let out: FieldsOf<R> | undefined;
  const sink: Persist<R> = { persistSchema: schema, saveState: () => out!, restoreState: (s) => (out = s) };
  prepareRestore(section, sink)();
  return out!;
}

function section<R extends FieldSpecs>(name: string, schema: PersistSchema<R>, fields: FieldsOf<R>): PersistSection {
  return { name, kind: schema.kind, version: schema.version, fields: fields as PersistRecord };
}

const invalid = (path: string, message: string): PersistError => new PersistError('persist-invalid', path, message);

// ------------------------------------------------------------------ emu -> KVM

/**
 * An emu state's backend sections in the KVM forms: x86-vcpu as it is, plus a kvm-vcpu section per
 * vCPU (XSAVE area from the FXSAVE image, events, MP state, APIC base, TSC deadline into the MSRs),
 * the local APICs as register pages, the 8259 pair, IOAPIC, 8254 and clock as KVM's structures.
 * Every emu section is checked against its schema first; a PMU or an unknown section is refused by name.
 */
export function emuSectionsToKvm(sections: readonly PersistSection[]): PersistSection[] {
  const byName = new Map(sections.map((s) => [s.name, s]));
  const clockSec = byName.get('clock');
  if (clockSec === undefined) throw invalid('clock', 'the emu state has no clock section');
  const clock = checked(clockSec, CLOCK_SCHEMA);
  const out: PersistSection[] = [section('clock', KVM_CLOCK_SCHEMA, { ns: BigInt(Math.max(0, Math.round(clock.nowNs))) })];
  for (const s of sections) {
    if (s.name === 'clock' || s.kind === EMU_EXEC_SCHEMA.kind || s.kind === RUN_POINT_SCHEMA.kind) continue; // emu's own counters and schedule
    if (s.kind === PMU_SCHEMA.kind) throw invalid(s.name, `${s.name}: the emulated PMU's state does not cross to kvm yet; run the VM with --pmu off to move it between engines`);
    if (s.name.startsWith('vcpu.')) {
      const i = s.name.slice(5);
      const lapicSec = byName.get(`lapic.${i}`);
      if (lapicSec === undefined) throw invalid(`lapic.${i}`, `the emu state has vCPU ${i} but no lapic.${i}`);
      const vcpu = checked(s, X86_VCPU_SCHEMA);
      const lapic = checked(lapicSec, LAPIC_SCHEMA);
      const deadline = (BigInt(lapic.tscDeadlineHi) << 32n) | BigInt(lapic.tscDeadlineLo);
      const msrs = vcpu.msrs.filter((m) => m.index !== MSR.IA32_TSC_DEADLINE);
      if (deadline !== 0n) msrs.push({ index: MSR.IA32_TSC_DEADLINE, value: deadline });
      out.push(section(s.name, X86_VCPU_SCHEMA, { ...vcpu, msrs }));
      out.push(section(`kvm-vcpu.${i}`, KVM_VCPU_SCHEMA, kvmVcpuFromEmu(vcpu, lapic)));
      out.push(section(`lapic.${i}`, KVM_LAPIC_SCHEMA, { regs: lapicPageFromEmu(lapic, clock.nowNs) }));
    } else if (s.name.startsWith('lapic.')) {
      continue; // with its vCPU above
    } else if (s.name === 'pic') {
      const p = checked(s, PIC_SCHEMA);
      out.push(section('pic', KVM_PIC_SCHEMA, { master: encodePicState(picFromEmu(p.master, ELCR_MASTER_MASK)), slave: encodePicState(picFromEmu(p.slave, ELCR_SLAVE_MASK)) }));
    } else if (s.name === 'ioapic') {
      out.push(section('ioapic', KVM_IOAPIC_SCHEMA, { state: ioapicFromEmu(checked(s, IOAPIC_SCHEMA)) }));
    } else if (s.name === 'pit') {
      out.push(section('pit', KVM_PIT_SCHEMA, { state: pitFromEmu(checked(s, PIT_SCHEMA)) }));
    } else {
      throw invalid(s.name, `section ${s.name} (${s.kind}) of the emu state has no counterpart on kvm`);
    }
  }
  return out;
}

function kvmVcpuFromEmu(v: X86Vcpu, l: EmuLapic): KvmVcpu {
  const mp = l.sipiVector >= 0 ? KVM_MP_STATE.SIPI_RECEIVED : v.waitSipi || l.waitSipi ? KVM_MP_STATE.INIT_RECEIVED : v.halted ? KVM_MP_STATE.HALTED : KVM_MP_STATE.RUNNABLE;
  const events: KvmVcpuEvents = {
    exception: { injected: 0, nr: 0, hasErrorCode: 0, pending: 0, errorCode: 0 },
    // emu keeps one shadow flag; KVM tells STI (2) from MOV SS (1): either blocks interrupts for one instruction.
    interrupt: { injected: 0, nr: 0, soft: 0, shadow: v.interruptShadow ? 1 : 0 },
    nmi: { injected: 0, pending: l.nmiPending ? 1 : 0, masked: v.nmiBlocked ? 1 : 0 },
    sipiVector: l.sipiVector >= 0 ? l.sipiVector : 0,
    flags: KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR | KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM,
    smi: { smm: 0, pending: 0, smmInsideNmi: 0, latchedInit: l.initPending ? 1 : 0 },
    tripleFaultPending: 0,
    exceptionHasPayload: 0,
    exceptionPayload: 0n,
  };
  return { xsave: xsaveFromFxsave(v.fxsave), events: encodeVcpuEvents(events), mpState: mp, apicBase: (BigInt(l.baseHi) << 32n) | BigInt(l.baseLo) };
}

/** The emu LAPIC's timer count at VM time `nowNs` (what a read of the current-count register gives). */
function emuTimerCount(l: EmuLapic, nowNs: number): number {
  const mode = (l.lvtTimer >>> 17) & 3;
  if (!l.timerArmed || mode === TIMER_MODE_TSC_DEADLINE) return 0;
  const t = Math.floor((nowNs - l.tStartNs) / l.tickNs + 1e-7);
  if (t < l.tStartCount) return l.tStartCount - t;
  if (mode !== TIMER_MODE_PERIODIC || l.timerInitial === 0) return 0;
  return l.timerInitial - ((t - l.tStartCount) % l.timerInitial);
}

function lapicPageFromEmu(l: EmuLapic, nowNs: number): Uint8Array {
  const p = new Uint8Array(KVM_LAPIC_STATE_SIZE);
  // KVM's own format outside x2APIC_API: the ID register holds the ID in bits 31:24 in both modes.
  setLapicReg(p, APIC_REG.ID, l.mode === 2 ? (l.apicId & 0xff) << 24 : l.id);
  setLapicReg(p, APIC_REG.VERSION, 0x5_0014); // recomputed by KVM_SET_LAPIC
  setLapicReg(p, APIC_REG.TPR, l.tpr);
  setLapicReg(p, APIC_REG.LDR, l.ldr);
  setLapicReg(p, APIC_REG.DFR, l.dfr);
  setLapicReg(p, APIC_REG.SVR, l.svr);
  setLapicVector(p, APIC_REG.ISR, l.isr);
  setLapicVector(p, APIC_REG.TMR, l.tmr);
  setLapicVector(p, APIC_REG.IRR, l.irr);
  setLapicReg(p, APIC_REG.ESR, l.esr);
  setLapicReg(p, APIC_REG.ICR_LO, l.icrLo & ~ICR_DELIVERY_STATUS);
  setLapicReg(p, APIC_REG.ICR_HI, l.icrHi);
  setLapicReg(p, APIC_LVT_CMCI, APIC_LVT_MASKED);
  setLapicReg(p, APIC_REG.LVT_TIMER, l.lvtTimer);
  setLapicReg(p, APIC_REG.LVT_THERMAL, l.lvtThermal);
  setLapicReg(p, APIC_REG.LVT_PMC, l.lvtPmc);
  setLapicReg(p, APIC_REG.LVT_LINT0, l.lvtLint0);
  setLapicReg(p, APIC_REG.LVT_LINT1, l.lvtLint1);
  setLapicReg(p, APIC_REG.LVT_ERROR, l.lvtError);
  setLapicReg(p, APIC_REG.TMICT, l.timerInitial);
  setLapicReg(p, APIC_REG.TMCCT, emuTimerCount(l, nowNs));
  setLapicReg(p, APIC_REG.TDCR, l.dcr);
  return p;
}

function picFromEmu(c: EmuPicChip, elcrMask: number): ReturnType<typeof decodePicState> {
  return {
    lastIrr: c.lines,
    irr: c.irr,
    imr: c.imr,
    isr: c.isr,
    priorityAdd: (c.lowest + 1) & 7,
    irqBase: c.vectorBase,
    readRegSelect: c.readIsr ? 1 : 0,
    poll: c.poll ? 1 : 0,
    specialMask: c.specialMask ? 1 : 0,
    // emu counts the ICW it expects next (2-4, 0 when ready), KVM the ICWs after ICW1 (1-3).
    initState: c.initStep > 0 ? c.initStep - 1 : 0,
    autoEoi: c.icw4 & 2 ? 1 : 0,
    rotateOnAutoEoi: c.rotateOnAeoi ? 1 : 0,
    specialFullyNestedMode: c.icw4 & 0x10 ? 1 : 0,
    init4: c.icw1 & 1,
    elcr: c.elcr,
    elcrMask,
  };
}

function ioapicFromEmu(s: EmuIoapic): Uint8Array {
  const lo = new DataView(s.lo.buffer, s.lo.byteOffset, s.lo.byteLength);
  const hi = new DataView(s.hi.buffer, s.hi.byteOffset, s.hi.byteLength);
  const redirtbl: bigint[] = [];
  let irr = 0;
  for (let pin = 0; pin < 24; pin++) {
    const l = lo.getUint32(pin * 4, true);
    redirtbl.push((BigInt(hi.getUint32(pin * 4, true)) << 32n) | BigInt(l));
    // KVM re-delivers the pins of IRR when it loads the state: only asserted level-triggered inputs belong there.
    if (s.levels[pin] && l & (1 << 15)) irr |= 1 << pin;
  }
  return encodeIoapicState({ baseAddress: 0xfec0_0000n, ioregsel: s.regsel, id: (s.id >>> 24) & 0xf, irr: irr >>> 0, redirtbl });
}

const rwState = (rw: number, msbNext: boolean): number => (rw === 3 ? (msbNext ? KVM_PIT_RW_STATE.WORD1 : KVM_PIT_RW_STATE.WORD0) : rw);

function pitFromEmu(s: EmuPit): Uint8Array {
  const channels = s.channels.map((c): KvmPitChannel => {
    const programmed = c.hasCount || c.ctrlBits !== 0;
    return {
      count: c.hasCount ? c.count : 0x10000,
      latchedCount: c.latched >= 0 ? c.latched & 0xffff : 0,
      countLatched: c.latched >= 0 ? rwState(c.rw, c.latchMsbNext) : 0,
      statusLatched: c.status >= 0 ? 1 : 0,
      status: c.status >= 0 ? c.status : 0,
      readState: rwState(c.rw, c.readMsbNext),
      writeState: rwState(c.rw, c.writeMsbNext),
      writeLatch: c.writeLsb,
      rwMode: c.rw,
      // KVM's reset value: a channel no control word reached counts nothing.
      mode: programmed ? c.mode : 0xff,
      bcd: c.bcd ? 1 : 0,
      gate: c.gate ? 1 : 0,
      countLoadTime: 0n,
    };
  });
  return encodePitState2({ channels, flags: s.port61Bits & 2 ? KVM_PIT_FLAGS_SPEAKER_DATA_ON : 0 });
}

// ------------------------------------------------------------------ KVM -> emu

/** What kvmSectionsToEmu reads from the emu VM it restores into (its chips' current state gives the defaults). */
export interface EmuTarget {
  readonly cpus: number;
  readonly deterministic: boolean;
  readonly tscHz: number;
  /** The VM has an emulated PMU (whose state a kvm state does not carry in emu's form). */
  readonly pmu: boolean;
  lapic(i: number): EmuLapic;
  exec(i: number): FieldsOf<typeof EMU_EXEC_SCHEMA.fields>;
  pic(): EmuPic;
  pit(): EmuPit;
  /** Whether emu keeps MSR `index` (its named fields or its storage MSRs). */
  holdsMsr(index: number): boolean;
}

/**
 * A kvm state's backend sections in emu's kinds, to restore on emu. The emu VM is non-deterministic
 * (kvm is); its clock continues from KVM's, the timers restart there. Refuses, by vCPU and reason,
 * what emu cannot represent: AVX or other XSAVE state beyond x87/SSE, an exception or external
 * interrupt KVM was in the middle of delivering that emu cannot deliver again.
 */
export function kvmSectionsToEmu(sections: readonly PersistSection[], emu: EmuTarget): PersistSection[] {
  const byName = new Map(sections.map((s) => [s.name, s]));
  for (const s of sections) {
    if (!/^(clock|pic|ioapic|pit|(vcpu|kvm-vcpu|lapic)\.\d+)$/.test(s.name)) throw invalid(s.name, `section ${s.name} (${s.kind}) of the kvm state has no counterpart on emu`);
  }
  const clockSec = byName.get('clock');
  if (clockSec === undefined) throw invalid('clock', 'the kvm state has no clock section');
  const nowNs = Number(checked(clockSec, KVM_CLOCK_SCHEMA).ns);
  if (emu.deterministic) throw invalid('clock', 'a kvm state runs on in real time: restore it without deterministic mode');
  if (emu.pmu) throw invalid('pmu', "the kvm VM's PMU state does not cross to emu yet; run the VM with --pmu off to move it between engines");
  const picSec = byName.get('pic');
  const ioSec = byName.get('ioapic');
  const pitSec = byName.get('pit');
  if (picSec === undefined || ioSec === undefined || pitSec === undefined) throw invalid('pic', 'the kvm state lacks the pic, ioapic or pit section');
  const pic = checked(picSec, KVM_PIC_SCHEMA);
  const master = decodePicState(exactPic(pic.master, 'pic.master'));
  const slave = decodePicState(exactPic(pic.slave, 'pic.slave'));
  const out: PersistSection[] = [];
  for (let i = 0; i < emu.cpus; i++) out.push(section(`vcpu-exec.${i}`, EMU_EXEC_SCHEMA, emu.exec(i)));
  out.push(section('clock', CLOCK_SCHEMA, { deterministic: false, nowNs, skippedNs: 0, tscHz: emu.tscHz }));
  const lapics: PersistSection[] = [];
  for (let i = 0; i < emu.cpus; i++) {
    const need = (name: string): PersistSection => {
      const s = byName.get(name);
      if (s === undefined) throw invalid(name, `the kvm state has no section ${name} (saved with another vCPU count?)`);
      return s;
    };
    const vcpu = checked(need(`vcpu.${i}`), X86_VCPU_SCHEMA);
    const kv = checked(need(`kvm-vcpu.${i}`), KVM_VCPU_SCHEMA);
    const page = checked(need(`lapic.${i}`), KVM_LAPIC_SCHEMA).regs;
    if (page.length !== KVM_LAPIC_STATE_SIZE) throw invalid(`lapic.${i}`, `lapic.${i}: a kvm_lapic_state is ${KVM_LAPIC_STATE_SIZE} bytes, not ${page.length}`);
    if (kv.xsave.length === KVM_XSAVE_SIZE) {
      const bv = new DataView(kv.xsave.buffer, kv.xsave.byteOffset).getBigUint64(XSAVE_HEADER_XSTATE_BV, true);
      if ((bv & ~EMU_XSTATE) !== 0n) throw invalid(`kvm-vcpu.${i}`, `vCPU ${i} holds XSAVE state emu does not have (XSTATE_BV 0x${bv.toString(16)}: AVX or later); restore it on kvm, or run the VM with a CPU model without those features`);
    }
    const ev = decodeVcpuEvents(kv.events);
    const regs = page.slice();
    let nmiPending = ev.nmi.pending !== 0;
    let nmiBlocked = vcpu.nmiBlocked;
    if (ev.nmi.injected) {
      // An NMI KVM was delivering: emu delivers it again.
      nmiPending = true;
      nmiBlocked = false;
    }
    if (ev.interrupt.injected && !ev.interrupt.soft) {
      // KVM acknowledged the interrupt when it started the delivery (LAPIC: IRR to ISR; 8259: the INTA
      // cycle): undo that, so that emu takes it again as it would have arrived.
      const nr = ev.interrupt.nr;
      const isr = lapicVector(regs, APIC_REG.ISR);
      const bit = 1 << (nr & 7);
      const at = nr >>> 3;
      if (isr[at]! & bit) {
        isr[at]! &= ~bit;
        const irr = lapicVector(regs, APIC_REG.IRR);
        irr[at]! |= bit;
        setLapicVector(regs, APIC_REG.ISR, isr);
        setLapicVector(regs, APIC_REG.IRR, irr);
      } else if (!unacknowledge(master, slave, nr)) {
        throw invalid(`kvm-vcpu.${i}`, `vCPU ${i} was delivering interrupt ${nr}, which neither its local APIC nor the 8259 pair has in service; emu cannot take it over (resume and snapshot again)`);
      }
    }
    if (ev.exception.injected || ev.exception.pending) {
      // RIP is still at the instruction for faults and INT3/INTO: emu raises them again when it runs it.
      if ([1, 2, 8, 18].includes(ev.exception.nr)) throw invalid(`kvm-vcpu.${i}`, `vCPU ${i} was delivering exception ${ev.exception.nr} when it was paused; emu cannot take it over (resume and snapshot again)`);
    }
    const mp = kv.mpState;
    const waitSipi = mp === KVM_MP_STATE.UNINITIALIZED || mp === KVM_MP_STATE.INIT_RECEIVED || mp === KVM_MP_STATE.SIPI_RECEIVED;
    const deadlineMsr = vcpu.msrs.find((m) => m.index === MSR.IA32_TSC_DEADLINE)?.value ?? 0n;
    const msrs = vcpu.msrs.filter((m) => m.index !== MSR.IA32_TSC_DEADLINE && m.index !== MSR.IA32_TSC && emu.holdsMsr(m.index));
    // The x87/SSE image: the legacy region of the XSAVE area (KVM saves it in the 64-bit FXSAVE form).
    const fxsave = kv.xsave.length >= 512 ? kv.xsave.slice(0, 512) : vcpu.fxsave;
    out.push(section(`vcpu.${i}`, X86_VCPU_SCHEMA, { ...vcpu, msrs, fxsave, halted: mp === KVM_MP_STATE.HALTED, waitSipi, interruptShadow: ev.interrupt.shadow !== 0, nmiBlocked }));
    const fields = emuLapicFromKvm(emu.lapic(i), regs, kv.apicBase, nowNs, emu.tscHz, deadlineMsr, vcpu.tsc, { nmiPending, initPending: ev.smi.latchedInit !== 0, sipiVector: mp === KVM_MP_STATE.SIPI_RECEIVED ? ev.sipiVector & 0xff : -1, waitSipi });
    lapics.push(section(`lapic.${i}`, LAPIC_SCHEMA, fields));
  }
  out.push(...lapics);
  const base = emu.pic();
  out.push(section('ioapic', IOAPIC_SCHEMA, emuIoapicFromKvm(checked(ioSec, KVM_IOAPIC_SCHEMA).state)));
  // The INTR output is recomputed after the load (EmuChips' PIC update), so it starts low here.
  out.push(section('pic', PIC_SCHEMA, { master: emuPicFromKvm(master, base.master, true), slave: emuPicFromKvm(slave, base.slave, false), out: false }));
  out.push(section('pit', PIT_SCHEMA, emuPitFromKvm(checked(pitSec, KVM_PIT_SCHEMA).state, emu.pit(), nowNs)));
  return out;
}

function emuLapicFromKvm(
  base: EmuLapic,
  p: Uint8Array,
  apicBase: bigint,
  nowNs: number,
  tscHz: number,
  deadline: bigint,
  tsc: bigint,
  ev: { nmiPending: boolean; initPending: boolean; sipiVector: number; waitSipi: boolean },
): EmuLapic {
  const mode = apicBase & APIC_BASE_EN ? (apicBase & APIC_BASE_EXTD ? 2 : 1) : 0;
  const lvtTimer = lapicReg(p, APIC_REG.LVT_TIMER);
  const dcr = lapicReg(p, APIC_REG.TDCR) & 0xb;
  // ns per tick at divide-by-1, from the emu APIC's own rate (its reset divider is 2).
  const nsPerBusTick = base.tickNs / LocalApic.divisor(base.dcr);
  const deadlineMode = ((lvtTimer >>> 17) & 3) === TIMER_MODE_TSC_DEADLINE;
  const count = deadlineMode ? -1 : timerCountFromKvm(p, lvtTimer);
  const dl = deadlineMode ? deadline : 0n;
  return {
    ...base,
    baseLo: Number(apicBase & 0xffff_ffffn),
    baseHi: Number(apicBase >> 32n),
    mode,
    id: mode === 2 ? base.id : lapicReg(p, APIC_REG.ID) & 0xff00_0000,
    tpr: lapicReg(p, APIC_REG.TPR) & 0xff,
    ldr: lapicReg(p, APIC_REG.LDR),
    dfr: lapicReg(p, APIC_REG.DFR),
    svr: lapicReg(p, APIC_REG.SVR),
    isr: lapicVector(p, APIC_REG.ISR),
    tmr: lapicVector(p, APIC_REG.TMR),
    irr: lapicVector(p, APIC_REG.IRR),
    esr: lapicReg(p, APIC_REG.ESR),
    esrPending: 0,
    icrLo: lapicReg(p, APIC_REG.ICR_LO) & ~ICR_DELIVERY_STATUS,
    icrHi: lapicReg(p, APIC_REG.ICR_HI),
    lvtTimer,
    lvtThermal: lapicReg(p, APIC_REG.LVT_THERMAL),
    lvtPmc: lapicReg(p, APIC_REG.LVT_PMC),
    lvtLint0: lapicReg(p, APIC_REG.LVT_LINT0),
    lvtLint1: lapicReg(p, APIC_REG.LVT_LINT1),
    lvtError: lapicReg(p, APIC_REG.LVT_ERROR),
    bsp: (apicBase & APIC_BASE_BSP) !== 0n,
    timerInitial: lapicReg(p, APIC_REG.TMICT),
    dcr,
    tickNs: LocalApic.divisor(dcr) * nsPerBusTick,
    timerArmed: count >= 0,
    tStartNs: nowNs,
    tStartCount: Math.max(0, count),
    tscDeadlineLo: Number(dl & 0xffff_ffffn),
    tscDeadlineHi: Number(dl >> 32n),
    // The deadline is a value of the vCPU's TSC (KVM's IA32_TSC when it was saved, at `nowNs`), which runs on at emu's rate.
    tscDeadlineNs: saveDeadline(dl === 0n ? Infinity : nowNs + (Number(dl - tsc) * 1e9) / tscHz),
    nmiPending: ev.nmiPending,
    initPending: ev.initPending,
    sipiVector: ev.sipiVector,
    waitSipi: ev.waitSipi,
    extIntPending: false,
    lint0Level: false,
    lint1Level: false,
  };
}

/**
 * The ticks a one-shot or periodic timer of KVM register page `p` has left, as KVM_SET_LAPIC restarts it
 * from the page (-1: not running). KVM_GET_LAPIC's current count is 0 both for a one-shot that expired
 * and in its last tick, and an expiry KVM has not injected yet (the vCPU was out of KVM_RUN when the timer
 * fired: KVM keeps it in a pending count that no ioctl reports) is in neither IRR nor ISR. KVM_SET_LAPIC
 * therefore restarts a one-shot at count 0 with no time left, so that it fires at once: a lost one-shot
 * interrupt can stop a guest for good, an extra one cannot. Emu does the same, except where the timer's
 * vector is in service: that is this expiry's interrupt, its handler running (one that masks the timer
 * before its EOI would otherwise take a second). A periodic timer at count 0 restarts with a whole
 * period; a count above the initial count starts from the initial count (KVM's rules for both).
 */
function timerCountFromKvm(p: Uint8Array, lvtTimer: number): number {
  const initial = lapicReg(p, APIC_REG.TMICT);
  if (initial === 0) return -1;
  const count = Math.min(lapicReg(p, APIC_REG.TMCCT), initial);
  if (count > 0) return count;
  if (((lvtTimer >>> 17) & 3) === TIMER_MODE_PERIODIC) return initial;
  const vector = lvtTimer & 0xff;
  const inService = (lapicVector(p, APIC_REG.ISR)[vector >> 3]! >> (vector & 7)) & 1;
  return inService ? -1 : 0;
}

function exactPic(b: Uint8Array, path: string): Uint8Array {
  if (b.length !== 16) throw invalid(path, `${path}: a kvm_pic_state is 16 bytes, not ${b.length}`);
  return b;
}

/**
 * Takes back the INTA cycle of 8259 vector `nr` (KVM acknowledged it and was delivering it at the pause):
 * its in-service bit goes back to a request, the cascade's too for the slave. False if neither chip has it in service.
 */
function unacknowledge(master: KvmPicState, slave: KvmPicState, nr: number): boolean {
  const back = (c: KvmPicState, irq: number): boolean => {
    const bit = 1 << irq;
    if (c.autoEoi) {
      c.irr |= bit; // auto-EOI sets no in-service bit
      return true;
    }
    if (!(c.isr & bit)) return false;
    c.isr &= ~bit;
    c.irr |= bit;
    return true;
  };
  if ((nr & 0xf8) === (master.irqBase & 0xf8) && (nr & 7) !== 2) return back(master, nr & 7);
  if ((nr & 0xf8) === (slave.irqBase & 0xf8)) {
    if (!back(slave, nr & 7)) return false;
    if (!master.autoEoi) master.isr &= ~(1 << 2);
    return true;
  }
  return false;
}

function emuPicFromKvm(k: KvmPicState, base: EmuPicChip, master: boolean): EmuPicChip {
  return {
    ...base,
    irr: k.irr,
    isr: k.isr,
    imr: k.imr,
    elcr: k.elcr,
    lines: k.lastIrr,
    vectorBase: k.irqBase & 0xf8,
    lowest: (k.priorityAdd + 7) & 7,
    initStep: k.initState > 0 ? Math.min(k.initState + 1, 4) : 0,
    // KVM keeps no ICW1/ICW3: the PC's wiring (cascade, edge by default; ELCR selects level) and what ICW4 says.
    icw1: 0x10 | (k.init4 & 1),
    icw3: master ? 0x04 : 0x02,
    icw4: (k.init4 ? 1 : 0) | (k.autoEoi ? 2 : 0) | (k.specialFullyNestedMode ? 0x10 : 0),
    readIsr: k.readRegSelect !== 0,
    poll: k.poll !== 0,
    specialMask: k.specialMask !== 0,
    rotateOnAeoi: k.rotateOnAutoEoi !== 0,
  };
}

function emuIoapicFromKvm(bytes: Uint8Array): EmuIoapic {
  const k = decodeIoapicState(bytes);
  const lo = new Uint8Array(96);
  const hi = new Uint8Array(96);
  const levels = new Uint8Array(24);
  const vl = new DataView(lo.buffer);
  const vh = new DataView(hi.buffer);
  k.redirtbl.forEach((e, pin) => {
    vl.setUint32(pin * 4, Number(e & 0xffff_ffffn), true);
    vh.setUint32(pin * 4, Number(e >> 32n), true);
    if (k.irr & (1 << pin) && Number(e & 0xffff_ffffn) & (1 << 15)) levels[pin] = 1;
  });
  const id = ((k.id & 0xf) << 24) >>> 0;
  return { regsel: k.ioregsel & 0xff, id, arb: id, lo, hi, levels };
}

function emuPitFromKvm(bytes: Uint8Array, base: EmuPit, nowNs: number): EmuPit {
  const k = decodePitState2(bytes);
  const channels = k.channels.map((c, i): EmuPitChannel => {
    const b = base.channels[i]!;
    if (c.mode === 0xff || c.mode > 7) return { ...b, gate: c.gate !== 0 };
    const rw = c.rwMode & 3;
    const mode = c.mode & 7;
    const bcd = c.bcd !== 0;
    return {
      mode,
      ctrlBits: (rw << 4) | (mode << 1) | (bcd ? 1 : 0),
      rw,
      bcd,
      count: c.count === 0 || c.count > 0x10000 ? 0x10000 : c.count,
      hasCount: true,
      // KVM_SET_PIT2 restarts every count at the load; so does this.
      running: true,
      loadNs: nowNs,
      frozenD: -1,
      gate: c.gate !== 0,
      nullCount: false,
      pendingCount: -1,
      pendingAtNs: 0,
      writeMsbNext: c.writeState === KVM_PIT_RW_STATE.WORD1,
      writeLsb: c.writeLatch,
      readMsbNext: c.readState === KVM_PIT_RW_STATE.WORD1,
      latched: c.countLatched ? c.latchedCount : -1,
      latchMsbNext: c.countLatched === KVM_PIT_RW_STATE.WORD1,
      status: c.statusLatched ? c.status : -1,
      processedD: 0,
      outLevel: mode === 2 || mode === 3 || mode === 6 || mode === 7,
    };
  });
  const gate2 = k.channels[2]!.gate ? 1 : 0;
  return { channels, port61Bits: (base.port61Bits & ~3) | gate2 | (k.flags & KVM_PIT_FLAGS_SPEAKER_DATA_ON ? 2 : 0) };
}

