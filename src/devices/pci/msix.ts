/**
 * MSI-X for a PCI function (PCI Local Bus Specification 3.0, 6.8.2):
 * - the capability (ID 0x11): Message Control with the table size (read-only), Function Mask and
 *   MSI-X Enable (writable); the table's and the PBA's BAR and offset;
 * - the table, 16 bytes per vector (address low, address high, data, vector control with its mask
 *   bit, set at reset), and the Pending Bit Array, in a BAR the function maps (`device`);
 * - delivery: `notify(vector)` sends the vector's message through the VM's `MsiSink` when MSI-X is
 *   enabled and neither the function nor the vector is masked; otherwise the pending bit is set, and
 *   the message goes out when the mask is cleared (a table write, or a config write of the control).
 * The table accepts aligned dword (and qword) accesses; others read all-ones and are dropped, which
 * the specification allows ("unsupported").
 */
import type { BusDevice } from '../../cpu/bus.js';
import type { MsiSink } from '../../cpu/irq.js';
import { field, type FieldsOf, type Persist, type PersistSchema } from '../../util/persist.js';
import type { PciConfigSpace } from './pci-config.js';

export const PCI_CAP_ID_MSIX = 0x11;
export const MSIX_CONTROL_ENABLE = 0x8000;
export const MSIX_CONTROL_FUNCTION_MASK = 0x4000;
export const MSIX_ENTRY_SIZE = 16;
export const MSIX_VECTOR_MASKED = 1;
/** The largest table the capability can describe (table size field is 11 bits, N - 1). */
export const MSIX_MAX_VECTORS = 2048;

export interface MsixLayout {
  readonly vectors: number;
  /** The BAR holding the table and the PBA, and their offsets in it (8-byte aligned). */
  readonly bar: number;
  readonly tableOffset: number;
  readonly pbaOffset: number;
}

const MSIX_FIELDS = { table: field.bytes(MSIX_MAX_VECTORS * MSIX_ENTRY_SIZE), pending: field.bytes(MSIX_MAX_VECTORS / 8) } as const;
export const MSIX_PERSIST: PersistSchema<typeof MSIX_FIELDS> = { kind: 'pci-msix', version: 1, fields: MSIX_FIELDS };

export class Msix implements Persist<typeof MSIX_FIELDS> {
  readonly persistSchema = MSIX_PERSIST;
  /** Offset of the capability in the function's config space. */
  readonly capOffset: number;
  readonly table: Uint8Array;
  private readonly tableView: DataView;
  readonly pending: Uint8Array;
  /** Called after the guest wrote vector `vector`'s table entry (its message or mask). */
  onVectorWritten: ((vector: number) => void) | undefined;
  /** Messages sent, and notifications held back by a mask (diagnostics, tests). */
  sent = 0;
  held = 0;

  /** The table and PBA as one BusDevice, for the BAR that holds them. */
  readonly device: BusDevice = {
    read: (offset, data) => this.read(offset, data),
    write: (offset, data) => this.write(offset, data),
  };

  constructor(
    private readonly config: PciConfigSpace,
    readonly layout: MsixLayout,
    private readonly sink: MsiSink,
  ) {
    const n = layout.vectors;
    if (!Number.isInteger(n) || n < 1 || n > MSIX_MAX_VECTORS) throw new RangeError(`MSI-X vector count ${n} must be 1-${MSIX_MAX_VECTORS}`);
    if (layout.tableOffset % 8 !== 0 || layout.pbaOffset % 8 !== 0) throw new RangeError('MSI-X table and PBA offsets must be 8-byte aligned');
    const pbaBytes = Math.ceil(n / 64) * 8;
    const tEnd = layout.tableOffset + n * MSIX_ENTRY_SIZE;
    if (layout.pbaOffset < tEnd && layout.tableOffset < layout.pbaOffset + pbaBytes) throw new RangeError('MSI-X table and PBA overlap');
    this.table = new Uint8Array(n * MSIX_ENTRY_SIZE);
    this.tableView = new DataView(this.table.buffer);
    this.pending = new Uint8Array(pbaBytes);
    this.reset();
    const body = new Uint8Array(10);
    const v = new DataView(body.buffer);
    v.setUint16(0, n - 1, true);
    v.setUint32(2, (layout.tableOffset | layout.bar) >>> 0, true);
    v.setUint32(6, (layout.pbaOffset | layout.bar) >>> 0, true);
    const wmask = new Uint8Array(10);
    wmask[1] = (MSIX_CONTROL_ENABLE | MSIX_CONTROL_FUNCTION_MASK) >> 8;
    this.capOffset = config.addCapability(PCI_CAP_ID_MSIX, body, wmask);
  }

  /** Function reset: every vector masked, nothing pending (the enable bits live in config space). */
  reset(): void {
    this.table.fill(0);
    for (let i = 0; i < this.layout.vectors; i++) this.tableView.setUint32(i * MSIX_ENTRY_SIZE + 12, MSIX_VECTOR_MASKED, true);
    this.pending.fill(0);
  }

  private get control(): number {
    return this.config.read(this.capOffset + 2, 2);
  }

  get enabled(): boolean {
    return (this.control & MSIX_CONTROL_ENABLE) !== 0;
  }

  get functionMasked(): boolean {
    return (this.control & MSIX_CONTROL_FUNCTION_MASK) !== 0;
  }

  vectorMasked(vector: number): boolean {
    return (this.tableView.getUint32(vector * MSIX_ENTRY_SIZE + 12, true) & MSIX_VECTOR_MASKED) !== 0;
  }

  /** Vector `vector`'s message when it would be sent now (MSI-X enabled, nothing masked), else undefined. */
  message(vector: number): { address: number; data: number } | undefined {
    if (vector < 0 || vector >= this.layout.vectors || !this.enabled || this.functionMasked || this.vectorMasked(vector)) return undefined;
    const at = vector * MSIX_ENTRY_SIZE;
    const v = this.tableView;
    return { address: v.getUint32(at, true) + v.getUint32(at + 4, true) * 0x1_0000_0000, data: v.getUint32(at + 8, true) };
  }

  isPending(vector: number): boolean {
    return (this.pending[vector >> 3]! & (1 << (vector & 7))) !== 0;
  }

  /** The device signals `vector`: sent now, or held pending while masked. Out-of-range vectors do nothing. */
  notify(vector: number): void {
    if (vector < 0 || vector >= this.layout.vectors) return;
    if (!this.enabled) return;
    if (this.functionMasked || this.vectorMasked(vector)) {
      this.pending[vector >> 3]! |= 1 << (vector & 7);
      this.held++;
      return;
    }
    this.send(vector);
  }

  private send(vector: number): void {
    const at = vector * MSIX_ENTRY_SIZE;
    const v = this.tableView;
    const address = v.getUint32(at, true) + v.getUint32(at + 4, true) * 0x1_0000_0000;
    this.sent++;
    this.sink.signalMsi(address, v.getUint32(at + 8, true));
  }

  /** Sends what a cleared mask releases; call after a config write (the function mask) and table writes. */
  deliverPending(): void {
    if (!this.enabled || this.functionMasked) return;
    for (let i = 0; i < this.layout.vectors; i++) {
      if (!this.isPending(i) || this.vectorMasked(i)) continue;
      this.pending[i >> 3]! &= ~(1 << (i & 7));
      this.send(i);
    }
  }

  private read(offset: number, data: Uint8Array): void {
    const { tableOffset, pbaOffset } = this.layout;
    const size = data.length;
    if ((size !== 4 && size !== 8) || offset % size !== 0) return void data.fill(0xff);
    let src: Uint8Array | undefined;
    let at = 0;
    if (offset >= tableOffset && offset + size <= tableOffset + this.table.length) {
      src = this.table;
      at = offset - tableOffset;
    } else if (offset >= pbaOffset && offset + size <= pbaOffset + this.pending.length) {
      src = this.pending;
      at = offset - pbaOffset;
    }
    if (src === undefined) return void data.fill(0);
    data.set(src.subarray(at, at + size));
  }

  private write(offset: number, data: Uint8Array): void {
    const { tableOffset } = this.layout;
    const size = data.length;
    if ((size !== 4 && size !== 8) || offset % size !== 0) return;
    if (offset < tableOffset || offset + size > tableOffset + this.table.length) return; // the PBA is read-only
    const at = offset - tableOffset;
    const vector = Math.floor(at / MSIX_ENTRY_SIZE);
    for (let i = 0; i < size; i++) {
      const o = at + i;
      // Vector control: only the mask bit is defined; the rest is reserved and reads 0.
      this.table[o] = o % MSIX_ENTRY_SIZE === 12 ? data[i]! & MSIX_VECTOR_MASKED : o % MSIX_ENTRY_SIZE > 12 ? 0 : data[i]!;
    }
    if (this.isPending(vector) && !this.vectorMasked(vector)) this.deliverPending();
    this.onVectorWritten?.(vector);
  }

  saveState(): FieldsOf<typeof MSIX_FIELDS> {
    return { table: this.table.slice(), pending: this.pending.slice() };
  }

  restoreState(s: FieldsOf<typeof MSIX_FIELDS>): void {
    if (s.table.length !== this.table.length || s.pending.length !== this.pending.length) {
      throw new RangeError(`MSI-X state has ${s.table.length / MSIX_ENTRY_SIZE} vectors; this function has ${this.layout.vectors}`);
    }
    this.table.set(s.table);
    this.pending.set(s.pending);
  }
}
