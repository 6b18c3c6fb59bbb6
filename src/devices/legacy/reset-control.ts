import { field, type FieldsOf, type Persist, type PersistSchema } from '../../util/persist.js';
import type { BusDevice } from '../../cpu/bus.js';
import type { VmControl } from '../../cpu/vm.js';

/** Intel ICH/PIIX "Reset Control Register" at 0xCF9. */
export const RESET_CONTROL_PORT = 0xcf9;
export const RST_CNT_SYS_RST = 0x02; // 1 = hard reset when RST_CPU fires
export const RST_CNT_RST_CPU = 0x04; // 0 → 1 transition starts the reset
export const RST_CNT_FULL_RST = 0x08;

/**
 * The PC reset control register: a write that sets RST_CPU (0x06, 0x0E, ...) resets
 * the machine, reported as `{ kind: 'reset', source: 'cf9' }`. Writes without RST_CPU
 * (Linux writes 0x02 first) only store SYS_RST/FULL_RST. Register with length 1: the
 * dword at 0xCF8 is the PCI configuration address and belongs to the PCI host bridge.
 */
const RESET_CONTROL_FIELDS = { value: field.u8() } as const;
export const RESET_CONTROL_PERSIST: PersistSchema<typeof RESET_CONTROL_FIELDS> = { kind: 'reset-control', version: 1, fields: RESET_CONTROL_FIELDS };

export class ResetControl implements BusDevice, Persist<typeof RESET_CONTROL_FIELDS> {
  readonly persistSchema = RESET_CONTROL_PERSIST;
  private value = 0;
  resets = 0;

  constructor(private readonly vm: VmControl) {}

  read(_offset: number, data: Uint8Array): void {
    data.fill(0);
    data[0] = this.value;
  }

  write(_offset: number, data: Uint8Array): void {
    const v = data[0] ?? 0;
    // RST_CPU reads back 0 after a reset, so every write with it set is a 0 → 1 transition.
    this.value = v & (RST_CNT_SYS_RST | RST_CNT_FULL_RST);
    if (v & RST_CNT_RST_CPU) {
      this.resets++;
      this.vm.requestStop({ kind: 'reset', source: 'cf9' });
    }
  }

  saveState(): FieldsOf<typeof RESET_CONTROL_FIELDS> {
    return { value: this.value };
  }

  restoreState(s: FieldsOf<typeof RESET_CONTROL_FIELDS>): void {
    this.value = s.value & (RST_CNT_SYS_RST | RST_CNT_FULL_RST);
  }
}
