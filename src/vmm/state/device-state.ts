/**
 * The devices' share of a machine state: every device of src/devices/ with state, under a fixed
 * section name. Stateless devices (isa-debug-exit, power-off, POST code, the ACPI PM timer, which
 * reads the guest clock) have none. Restores check every section first and load only if all pass.
 */
import type { LegacyDevices } from '../../devices/device-manager.js';
import type { PciBus } from '../../devices/pci/pci-bus.js';
import { PersistError, anyPersist, prepareRestore, saveSection, type Persist, type PersistSection } from '../../util/persist.js';
import { isRawSection, type MachineState } from './machine-state.js';

/** Each stateful device under its section name: the legacy devices, then every PCI function with state. */
export function devicePersists(d: LegacyDevices): readonly (readonly [string, Persist])[] {
  return [
    ['device.com1', anyPersist(d.uart)],
    ['device.i8042', anyPersist(d.i8042)],
    ['device.cmos-rtc', anyPersist(d.rtc)],
    ['device.fw-cfg', anyPersist(d.fwCfg)],
    ['device.reset-control', anyPersist(d.resetControl)],
    ['device.acpi-pm1', anyPersist(d.pm1)],
    ['device.pci-host', anyPersist(d.pciHost)],
    ...pciPersists(d.pci),
  ];
}

function isPersist(f: unknown): f is Persist {
  const p = f as Partial<Persist>;
  return p.persistSchema !== undefined && typeof p.saveState === 'function' && typeof p.restoreState === 'function';
}

/**
 * The PCI functions (virtio devices) under `device.pci.00:DD.F`. A restore loads the function's state,
 * then has the bus decode its BARs from the loaded config space, where the guest may have moved them.
 */
function pciPersists(bus: PciBus): (readonly [string, Persist])[] {
  const out: (readonly [string, Persist])[] = [];
  for (const { devfn } of bus.list()) {
    const fn = bus.function(devfn);
    if (!isPersist(fn)) continue;
    const name = `device.pci.00:${(devfn >> 3).toString(16).padStart(2, '0')}.${devfn & 7}`;
    out.push([
      name,
      {
        persistSchema: fn.persistSchema,
        saveState: () => fn.saveState(),
        restoreState: (s) => {
          fn.restoreState(s);
          bus.configLoaded(devfn);
        },
      },
    ]);
  }
  return out;
}

export function saveDevices(d: LegacyDevices): PersistSection[] {
  return devicePersists(d).map(([name, p]) => saveSection(name, p));
}

/**
 * Checks that `state` holds a valid section for every one of `components` and returns the step that
 * loads them all. Throws PersistError (naming the section and field) before anything is loaded.
 */
export function prepareRestoreAll(state: MachineState, components: readonly (readonly [string, Persist])[]): () => void {
  const steps = components.map(([name, p]) => {
    const s = state.section(name);
    if (s === undefined) throw new PersistError('persist-invalid', name, `the state has no section ${name} (${p.persistSchema.kind})`);
    if (isRawSection(s)) throw new PersistError('persist-invalid', name, `section ${name} holds raw bytes, not the fields of a ${p.persistSchema.kind}`);
    return prepareRestore(s, p);
  });
  return () => {
    for (const step of steps) step();
  };
}

export function prepareDeviceRestore(d: LegacyDevices, state: MachineState): () => void {
  return prepareRestoreAll(state, devicePersists(d));
}
