/**
 * ACPI fixed hardware: the PM1a event block (PM1_STS, PM1_EN) and PM1a control block (PM1_CNT),
 * ACPI 6.4 section 4.8.3.1, as one device over six ports (status +0, enable +2, control +4).
 * - PM1_STS bits are sticky and cleared by writing 1 (WAK_STS, PWRBTN_STS, SLPBTN_STS, RTC_STS...).
 * - The SCI is asserted (level) while any status bit is set together with its enable bit.
 * - PM1_CNT: SCI_EN reads 1 always (no SMI_CMD: the hardware is in ACPI mode from reset), SLP_TYP
 *   and BM_RLD are stored, GBL_RLS and SLP_EN are write-only. Writing SLP_EN with the S5 sleep type
 *   stops the VM with `poweroff`; other sleep types (none is declared in the DSDT) are counted and
 *   the machine stays in S0 with WAK_STS set, as if it had woken at once.
 * The default base 0x600 puts PM1a_CNT at 0x604, the port guests hard-code for QEMU's PIIX4 PM, and
 * S5's SLP_TYP is 0 as there, so both the ACPI path and those guests power off.
 */
import { field, type FieldsOf, type Persist, type PersistSchema } from '../../util/persist.js';
import type { BusDevice } from '../../cpu/bus.js';
import type { IrqLine } from '../../cpu/irq.js';
import type { VmControl } from '../../cpu/vm.js';

export const PM1_DEFAULT_BASE = 0x600;
export const PM1_PORTS = 6;
export const PM1_STS = 0;
export const PM1_EN = 2;
export const PM1_CNT = 4;

export const PM1_TMR_STS = 1 << 0;
export const PM1_BM_STS = 1 << 4;
export const PM1_GBL_STS = 1 << 5;
export const PM1_PWRBTN_STS = 1 << 8;
export const PM1_SLPBTN_STS = 1 << 9;
export const PM1_RTC_STS = 1 << 10;
export const PM1_WAK_STS = 1 << 15;
/** Status bits this hardware can set. */
const STS_IMPLEMENTED = PM1_PWRBTN_STS | PM1_SLPBTN_STS | PM1_RTC_STS | PM1_WAK_STS;
/** Enable bits for the implemented events (TMR_EN, GBL_EN, PWRBTN_EN, SLPBTN_EN, RTC_EN). */
const EN_WRITABLE = (1 << 0) | (1 << 5) | (1 << 8) | (1 << 9) | (1 << 10);

export const PM1_CNT_SCI_EN = 1 << 0;
export const PM1_CNT_BM_RLD = 1 << 1;
export const PM1_CNT_GBL_RLS = 1 << 2;
export const PM1_CNT_SLP_TYP_SHIFT = 10;
export const PM1_CNT_SLP_TYP_MASK = 7 << PM1_CNT_SLP_TYP_SHIFT;
export const PM1_CNT_SLP_EN = 1 << 13;
/** The SLP_TYP the DSDT's \_S5 names. */
export const PM1_SLP_TYP_S5 = 0;

const PM1_FIELDS = { sts: field.u16(), en: field.u16(), cnt: field.u16() } as const;
export const PM1_PERSIST: PersistSchema<typeof PM1_FIELDS> = { kind: 'acpi-pm1', version: 1, fields: PM1_FIELDS };

export class AcpiPm1 implements BusDevice, Persist<typeof PM1_FIELDS> {
  readonly persistSchema = PM1_PERSIST;
  private sts = 0;
  private en = 0;
  private cnt = PM1_CNT_SCI_EN;
  /** Sleep requests for states other than S5. */
  ignoredSleeps = 0;

  constructor(
    private readonly vm: VmControl,
    private readonly sci: IrqLine | undefined,
  ) {}

  read(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      const o = offset + i;
      const reg = o < 2 ? this.sts : o < 4 ? this.en : o < 6 ? this.cnt : 0xffff;
      data[i] = (reg >> ((o & 1) * 8)) & 0xff;
    }
  }

  write(offset: number, data: Uint8Array): void {
    // Gather the bytes per register so a word write acts once, with both halves.
    let stsClear = 0;
    let enNew = this.en;
    let cntNew = -1;
    for (let i = 0; i < data.length; i++) {
      const o = offset + i;
      const shift = (o & 1) * 8;
      const b = data[i]! << shift;
      if (o < 2) stsClear |= b;
      else if (o < 4) enNew = (enNew & ~(0xff << shift)) | b;
      else if (o < 6) cntNew = ((cntNew < 0 ? this.cnt : cntNew) & ~(0xff << shift)) | b;
    }
    this.sts &= ~stsClear;
    this.en = enNew & EN_WRITABLE;
    if (cntNew >= 0) this.writeControl(cntNew);
    this.updateSci();
  }

  private writeControl(v: number): void {
    this.cnt = PM1_CNT_SCI_EN | (v & (PM1_CNT_BM_RLD | PM1_CNT_SLP_TYP_MASK));
    if (!(v & PM1_CNT_SLP_EN)) return;
    const type = (v & PM1_CNT_SLP_TYP_MASK) >> PM1_CNT_SLP_TYP_SHIFT;
    if (type === PM1_SLP_TYP_S5) {
      this.vm.requestStop({ kind: 'poweroff' });
      return;
    }
    this.ignoredSleeps++;
    this.sts |= PM1_WAK_STS;
  }

  /** The host pressed the power button (e.g. to ask the guest for an orderly shutdown). */
  pressPowerButton(): void {
    this.raise(PM1_PWRBTN_STS);
  }

  pressSleepButton(): void {
    this.raise(PM1_SLPBTN_STS);
  }

  private raise(bit: number): void {
    this.sts |= bit & STS_IMPLEMENTED;
    this.updateSci();
  }

  /** The SCI level (status AND enable), for tests and diagnostics. */
  get sciLevel(): boolean {
    return (this.sts & this.en & 0x7ff) !== 0;
  }

  private updateSci(): void {
    this.sci?.set(this.sciLevel);
  }

  saveState(): FieldsOf<typeof PM1_FIELDS> {
    return { sts: this.sts, en: this.en, cnt: this.cnt };
  }

  restoreState(s: FieldsOf<typeof PM1_FIELDS>): void {
    this.sts = s.sts & STS_IMPLEMENTED;
    this.en = s.en & EN_WRITABLE;
    this.cnt = PM1_CNT_SCI_EN | (s.cnt & (PM1_CNT_BM_RLD | PM1_CNT_SLP_TYP_MASK));
    this.updateSci();
  }
}
