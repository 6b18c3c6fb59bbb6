/**
 * The forms vCPU and chip state takes in snapshots and migration streams when it must be readable by
 * either engine (issue 11: restore across engines):
 * - `x86-vcpu`: the architectural vCPU state, engine-neutral (emu fills it from its fields, kvm from
 *   KVM_GET_REGS/SREGS/DEBUGREGS/MSRS/XSAVE/XCRS/VCPU_EVENTS/MP_STATE);
 * - the KVM structures, as the common form of what each engine keeps its own way: the local APIC as
 *   `kvm_lapic_state` (the 1 KiB register page), the 8259 pair as two `kvm_pic_state`, the IOAPIC as
 *   `kvm_ioapic_state`, the 8254 as `kvm_pit_state2`, the clock as KVM_GET_CLOCK's nanoseconds and the
 *   FPU/SSE state as `kvm_xsave`, with `kvm_vcpu_events`, the MP state and the APIC base beside them.
 * The kvm backend saves these; emu saves its own, richer kinds (which a deterministic continuation
 * needs) and converts in both directions through these forms (src/cpu/emu/kvm-forms.ts).
 * Imports nothing but the persist interface, so both backends can use it.
 */
import { field } from '../util/persist.js';

const u64 = field.u64();
const SEGMENT = field.record({ selector: field.u16(), base: u64, limit: field.u32(), attrs: field.u32() });

/** The architectural vCPU state (see vcpu-state.ts for emu's side). */
export const X86_VCPU_SCHEMA = {
  kind: 'x86-vcpu',
  version: 1,
  fields: {
    gpr: field.array(u64, 16),
    rip: u64,
    rflags: u64,
    /** es, cs, ss, ds, fs, gs, ldtr, tr (the catalog's order). */
    segments: field.array(SEGMENT, 8),
    gdtr: field.record({ base: u64, limit: field.u16() }),
    idtr: field.record({ base: u64, limit: field.u16() }),
    cr0: u64,
    cr2: u64,
    cr3: u64,
    cr4: u64,
    cr8: u64,
    dr: field.array(u64, 8),
    efer: u64,
    msrs: field.array(field.record({ index: field.u32(), value: u64 }), 4096),
    tsc: u64,
    /** The FXSAVE image, 64-bit form (FIP/FDP 64-bit, no selectors; those follow). */
    fxsave: field.bytes(512),
    fcs: field.u16(),
    fds: field.u16(),
    xcr0: u64,
    halted: field.bool(),
    waitSipi: field.bool(),
    interruptShadow: field.bool(),
    nmiBlocked: field.bool(),
    /** DR6 bits of debug traps held back by a MOV SS / POP SS shadow (pending debug exceptions). */
    pendingDebug: field.u32(),
  },
} as const;


/** The KVM vCPU state x86-vcpu does not hold: the whole XSAVE area, the event state, the MP state and the APIC base. */
export const KVM_VCPU_SCHEMA = {
  kind: 'kvm-vcpu',
  version: 1,
  fields: {
    /** kvm_xsave (4 KiB, standard form). */
    xsave: field.bytes(4096),
    /** kvm_vcpu_events (64 bytes): pending and injected exception, interrupt, NMI, SIPI vector, SMM. */
    events: field.bytes(64),
    /** KVM_MP_STATE_* */
    mpState: field.u32(),
    /** IA32_APIC_BASE (kvm_sregs.apic_base). */
    apicBase: u64,
  },
} as const;

/** kvm_lapic_state: the register page (timer current count included: KVM restarts the timer from it). */
export const KVM_LAPIC_SCHEMA = { kind: 'kvm-lapic-state', version: 1, fields: { regs: field.bytes(1024) } } as const;
/** The 8259 pair: KVM_GET_IRQCHIP of KVM_IRQCHIP_PIC_MASTER and _SLAVE (kvm_pic_state, 16 bytes each). */
export const KVM_PIC_SCHEMA = { kind: 'kvm-pic-pair', version: 1, fields: { master: field.bytes(16), slave: field.bytes(16) } } as const;
/** KVM_GET_IRQCHIP of KVM_IRQCHIP_IOAPIC (kvm_ioapic_state, 216 bytes). */
export const KVM_IOAPIC_SCHEMA = { kind: 'kvm-ioapic-state', version: 1, fields: { state: field.bytes(216) } } as const;
/** KVM_GET_PIT2 (kvm_pit_state2, 112 bytes; count_load_time is host time and means nothing elsewhere). */
export const KVM_PIT_SCHEMA = { kind: 'kvm-pit-state2', version: 1, fields: { state: field.bytes(112) } } as const;
/** KVM_GET_CLOCK: VM time in nanoseconds (kvmclock), which the chips' timers run on. */
export const KVM_CLOCK_SCHEMA = { kind: 'kvm-clock', version: 1, fields: { ns: u64 } } as const;
