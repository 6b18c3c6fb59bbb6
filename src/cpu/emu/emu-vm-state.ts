/**
 * The emu backend's share of a snapshot (Vm.saveState/restoreState): the virtual clock, every
 * vCPU (vcpu-state.ts), the chips (each local APIC, the IOAPIC, the 8259 pair, the 8254) and the
 * PMUs. Guest RAM and the devices are the VMM's. A restore checks every section against its
 * schema before it loads any, so a bad file leaves the VM as it was.
 *
 * Portability: the `x86-vcpu` sections are the common form (KVM fills the same fields); the
 * chips and the clock are saved in emu's own kinds (a deterministic continuation needs all of their
 * fields) and a kvm VM converts them to its structures; a state saved on kvm (the KVM structures)
 * is converted to emu's kinds here before the usual checks (kvm-forms.ts).
 */
import type { BackendState } from '../vm.js';
import type { EmuVm } from './emu-vm.js';
import { anyPersist, field, PersistError, prepareRestore, saveSection, type Persist, type PersistRecord, type PersistSection } from '../../util/persist.js';
import { saveExec, vcpuPersists } from './vcpu-state.js';
import { kvmSectionsToEmu } from './kvm-forms.js';
import { emuHoldsMsr } from './msr.js';
import type { LocalApic } from './chips/local-apic.js';
import type { EmuChips } from './chips/chip-set.js';
import type { PmuState, VirtualPmu } from '../../pmu/index.js';
import { Pow } from './x86-defs.js';
import { flushTlb } from './tlb.js';

export const CLOCK_SCHEMA = {
  kind: 'emu-clock',
  version: 1,
  fields: { deterministic: field.bool(), nowNs: field.number(), skippedNs: field.number(), tscHz: field.number() },
} as const;

const COUNTER = field.string(24);
const COUNT = field.number();
/** Absent from snapshots of older versions (taken between rounds, which restore as they did). */
const RUN_POINT = 'run-point';
export const PMU_SCHEMA = {
  kind: 'emu-virtual-pmu',
  version: 1,
  fields: {
    gpCounters: field.array(COUNTER, 64),
    eventSelects: field.array(field.u32(), 64),
    fixedCounters: field.array(COUNTER, 64),
    fixedCtrCtrl: field.u32(),
    globalCtrl: COUNTER,
    globalStatus: COUNTER,
  },
} as const;

export const RUN_POINT_SCHEMA = {
  kind: 'emu-run-point',
  version: 2,
  fields: {
    /** The vCPU the paused round runs next (-1: between rounds; the vCPU count: the end-of-round checks). */
    roundAt: field.int(-1, 4096),
    roundBudget: field.number(),
    roundProgressed: field.bool(),
    sliceOpen: field.bool(),
    sliceBefore: COUNT,
    sliceWasHalted: field.bool(),
    spinCheckIn: field.int(0, 1 << 20),
    /** Doorbells rung in this round, not yet dispatched. */
    doorbells: field.array(field.record({ space: field.string(4), address: COUNT, size: field.int(1, 8), datamatch: COUNT, matchAny: field.bool() }), 4096),
    cpus: field.array(
      field.record({
        sliceEnd: COUNT,
        blockRest: COUNT,
        /** Stopped for the debug client in front of an instruction (EmuCpu.hostCont): it runs next, unchecked. */
        hostCont: field.bool(),
        /** Instructions of the cut basic block before the cut (EmuCpu.restSeg: the rest's clock). */
        restSeg: COUNT,
        pollAt: COUNT,
        breakRun: field.bool(),
        pmuLeft: COUNT,
        pmuLeftCpl: field.int(-1, 3),
        pmuMerge: field.bool(),
        refMark: COUNT,
        refHalted: field.bool(),
        refCpl: field.int(0, 3),
      }),
      4096,
    ),
  },
  upgrade: {
    // Version 2 adds hostCont (a stop for the debug client; version 1 had none) and restSeg (version 1 timed a
    // rest from the cut).
    1: (old: PersistRecord): PersistRecord => ({ ...old, cpus: (old['cpus'] as readonly PersistRecord[]).map((c) => ({ ...c, hostCont: false, restSeg: 0 })) }),
  },
} as const;

/**
 * Where the run stands inside a round and a slice (EmuVm.pauseAt stops anywhere), and what carries
 * over between slices (poll point, PMU bound, reference-tick mark): a restore goes on exactly there.
 */
function runPointPersist(vm: EmuVm): Persist {
  const p: Persist<typeof RUN_POINT_SCHEMA.fields> = {
    persistSchema: RUN_POINT_SCHEMA,
    saveState: () => {
      // Between rounds, or for a vCPU whose slice is not open, the round and slice fields mean nothing
      // (the next slice sets them anew): saved as zeros, so equal machines save equal states.
      const inRound = vm.roundAt >= 0;
      const open = inRound && vm.sliceOpen;
      return {
        roundAt: vm.roundAt,
        roundBudget: inRound ? vm.roundBudget : 0,
        roundProgressed: inRound && vm.roundProgressed,
        sliceOpen: open,
        sliceBefore: open ? vm.sliceBefore : 0,
        sliceWasHalted: open && vm.sliceWasHalted,
        spinCheckIn: vm.spinCheckIn,
        doorbells: vm.events.pendingSpecs().map((d) => ({ space: d.space, address: d.address, size: d.size, datamatch: d.datamatch ?? 0, matchAny: d.datamatch === undefined })),
        cpus: vm.cpus.map((c) => {
          const ref = vm.pmus[c.index]?.refState() ?? { mark: -1, halted: false, cpl: 0 };
          const o = open && c.index === vm.roundAt;
          return {
            sliceEnd: o ? c.sliceEnd : 0,
            blockRest: o ? c.blockRest : 0,
            hostCont: o && c.hostCont,
            restSeg: o && c.blockRest !== 0 ? c.restSeg : 0,
            pollAt: o ? c.pollAt : 0,
            breakRun: o && c.breakRun,
            pmuLeft: o ? c.pmuLeft : 0,
            pmuLeftCpl: o ? c.pmuLeftCpl : -1,
            pmuMerge: o && c.pmuMerge,
            refMark: ref.mark,
            refHalted: ref.halted,
            refCpl: ref.cpl,
          };
        }),
      };
    },
    restoreState: (s) => {
      if (s.cpus.length !== vm.cpus.length) throw new PersistError('persist-invalid', 'run-point.cpus', `run point: saved for ${s.cpus.length} vCPU(s), this VM has ${vm.cpus.length}`);
      if (s.roundAt > vm.cpus.length) throw new PersistError('persist-invalid', 'run-point.roundAt', `run point: round position ${s.roundAt} is past the last vCPU`);
      for (const d of s.doorbells) {
        const spec = { space: d.space === 'mmio' ? 'mmio' : 'pio', address: d.address, size: d.size as 1 | 2 | 4 | 8, ...(d.matchAny ? {} : { datamatch: d.datamatch }) } as const;
        if (!vm.events.markPending(spec)) throw new PersistError('persist-invalid', 'run-point.doorbells', `run point: no device listens at ${d.space} 0x${d.address.toString(16)} for a rung doorbell; restore into the same machine configuration`);
      }
      vm.roundAt = s.roundAt;
      vm.roundBudget = s.roundBudget;
      vm.roundProgressed = s.roundProgressed;
      vm.sliceOpen = s.sliceOpen && s.roundAt >= 0 && s.roundAt < vm.cpus.length;
      vm.sliceBefore = s.sliceBefore;
      vm.sliceWasHalted = s.sliceWasHalted;
      vm.spinCheckIn = Math.max(1, s.spinCheckIn);
      s.cpus.forEach((r, i) => {
        const c = vm.cpus[i]!;
        c.sliceEnd = r.sliceEnd;
        c.blockRest = r.blockRest;
        c.hostCont = r.hostCont;
        c.restSeg = r.restSeg;
        c.pollAt = r.pollAt;
        c.breakRun = r.breakRun;
        c.pmuLeft = r.pmuLeft;
        c.pmuLeftCpl = r.pmuLeftCpl;
        c.pmuMerge = r.pmuMerge;
        // Reference ticks are counted in virtual time only when time is the instruction count.
        if (vm.clock.deterministic) vm.pmus[i]?.setRefState({ mark: r.refMark, halted: r.refHalted, cpl: r.refCpl });
      });
    },
  };
  return anyPersist(p);
}

function clockPersist(vm: EmuVm): Persist {
  const p: Persist<typeof CLOCK_SCHEMA.fields> = {
    persistSchema: CLOCK_SCHEMA,
    saveState: () => ({ deterministic: vm.clock.deterministic, nowNs: vm.clock.nowNs(), skippedNs: vm.clock.skippedNs, tscHz: vm.clock.tscHz }),
    restoreState: (s) => {
      if (s.deterministic !== vm.clock.deterministic) throw new PersistError('persist-invalid', 'clock.deterministic', `clock: the snapshot was taken ${s.deterministic ? 'in' : 'without'} deterministic mode; restore it the same way`);
      if (s.tscHz !== vm.clock.tscHz) throw new PersistError('persist-invalid', 'clock.tscHz', `clock: the snapshot's TSC runs at ${s.tscHz} Hz, this VM's at ${vm.clock.tscHz} Hz`);
      vm.clock.setNowNs(s.nowNs, s.skippedNs);
    },
  };
  return anyPersist(p);
}

function pmuPersist(pmu: VirtualPmu): Persist {
  const p: Persist<typeof PMU_SCHEMA.fields> = {
    persistSchema: PMU_SCHEMA,
    saveState: () => {
      const s = pmu.saveState();
      return { gpCounters: s.gpCounters, eventSelects: s.eventSelects, fixedCounters: s.fixedCounters, fixedCtrCtrl: s.fixedCtrCtrl >>> 0, globalCtrl: s.globalCtrl, globalStatus: s.globalStatus };
    },
    restoreState: (s) => {
      const st: PmuState = { format: 'tsvmm-pmu-state', version: 1, ...s };
      try {
        pmu.restoreState(st);
      } catch (e) {
        throw new PersistError('persist-invalid', 'pmu', `pmu: ${(e as Error).message}`);
      }
    },
  };
  return anyPersist(p);
}

/** Every component of the backend under its section name, in restore order (the clock before the vCPUs, which compute their TSC offsets from it). */
function components(vm: EmuVm): (readonly [string, Persist])[] {
  const chips = vm.chips as EmuChips;
  // Exec counts first: deterministic virtual time is computed from them.
  const out: (readonly [string, Persist])[] = vm.cpus.map((c) => [`vcpu-exec.${c.index}`, vcpuPersists(c).exec] as const);
  out.push(['clock', clockPersist(vm)]);
  for (const c of vm.cpus) out.push([`vcpu.${c.index}`, vcpuPersists(c).vcpu]);
  chips.apics.forEach((a: LocalApic, i) => out.push([`lapic.${i}`, anyPersist(a)]));
  out.push(['ioapic', anyPersist(chips.ioapic)], ['pic', anyPersist(chips.pic)], ['pit', anyPersist(chips.pit)]);
  vm.pmus.forEach((p, i) => out.push([`pmu.${i}`, pmuPersist(p)]));
  // Last: the vCPU and PMU restores reset what it sets.
  out.push([RUN_POINT, runPointPersist(vm)]);
  return out;
}

export function saveEmuVmState(vm: EmuVm): BackendState {
  if (!vm.paused && vm.isRunning) throw new RangeError('emu: saveState needs the VM paused (or not yet run)');
  const sections: PersistSection[] = components(vm).map(([name, p]) => saveSection(name, p));
  return { backend: 'emu', sections };
}

/** A kvm state's sections in emu's kinds, with this VM's chips giving what KVM does not keep. */
function fromKvm(vm: EmuVm, state: BackendState): BackendState {
  const chips = vm.chips as EmuChips;
  const sections = kvmSectionsToEmu(state.sections, {
    cpus: vm.cpus.length,
    deterministic: vm.clock.deterministic,
    tscHz: vm.clock.tscHz,
    pmu: vm.pmus.length > 0,
    lapic: (i) => chips.apics[i]!.saveState(),
    exec: (i) => saveExec(vm.cpus[i]!),
    pic: () => chips.pic.saveState(),
    pit: () => chips.pit.saveState(),
    holdsMsr: emuHoldsMsr,
  });
  return { backend: 'emu', sections };
}

export function restoreEmuVmState(vm: EmuVm, saved: BackendState): void {
  if (!vm.paused && vm.isRunning) throw new RangeError('emu: restoreState needs the VM paused (or not yet run)');
  const state = saved.backend === 'kvm' ? fromKvm(vm, saved) : saved;
  const byName = new Map(state.sections.map((s) => [s.name, s]));
  const comps = components(vm);
  const known = new Set(comps.map(([n]) => n));
  for (const s of state.sections) {
    if (!known.has(s.name)) throw new PersistError('persist-invalid', s.name, `section ${s.name} (${s.kind}) has no counterpart in this VM (${vm.cpus.length} vCPU(s)${vm.pmus.length ? ', a PMU' : ', no PMU'})`);
  }
  // Check every section before loading any.
  const steps = comps.map(([name, p]) => {
    const s = byName.get(name);
    if (s === undefined && name === RUN_POINT) return () => undefined;
    if (s === undefined) throw new PersistError('persist-invalid', name, `the state has no section ${name} (${p.persistSchema.kind})`);
    return prepareRestore(s, p);
  });
  for (const step of steps) step();
  // Caches of the old contents and of the old APIC base.
  vm.cache.clear();
  const out = { lo: 0, hi: 0 };
  for (const c of vm.cpus) {
    const apic = c.apic;
    if (apic !== undefined) {
      apic.getApicBase(out);
      c.apicBasePhys = (out.hi & 0xff) * Pow.Two32 + ((out.lo & 0xfffff000) >>> 0);
      c.apicMmio = (out.lo & (1 << 11)) !== 0 && (out.lo & (1 << 10)) === 0;
    }
    flushTlb(c, true);
  }
  // KVM keeps no INTR level of the 8259 pair: recompute it, which also gives LINT0 its level.
  if (saved.backend === 'kvm') (vm.chips as EmuChips).pic.update();
}
