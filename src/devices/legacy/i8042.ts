import { field, type FieldsOf, type Persist, type PersistSchema } from '../../util/persist.js';
import type { BusDevice } from '../../cpu/bus.js';
import type { IrqLine } from '../../cpu/irq.js';
import type { VmControl } from '../../cpu/vm.js';

/*
 * Intel 8042 keyboard controller, as much of it as guests use: the status register,
 * the controller commands (command byte, self tests, output port, pulse lines), a PS/2
 * keyboard that answers the usual commands but never types, and no mouse. Commands are
 * processed instantly, so the input buffer is never full (IBF = 0) and reset loops that
 * wait for IBF to clear (Linux reboot=kbd) go straight through.
 *
 * The guest resets the machine by pulsing output-port bit 0 low (command 0xFE, any
 * 0xF0-0xFF command with bit 0 clear, or writing the output port with bit 0 clear
 * through 0xD1); each is reported as `{ kind: 'reset', source: 'i8042' }`.
 * Scan-code translation (command byte bit 6) only changes the keyboard ID (AB 41 instead
 * of AB 83), since the keyboard sends no scan codes. Replies were checked against
 * QEMU 7.2 after SeaBIOS (self-test, interface tests, output port, keyboard replies).
 */

export const I8042_DATA_PORT = 0x60;
export const I8042_COMMAND_PORT = 0x64;
export const I8042_KBD_IRQ = 1;
export const I8042_AUX_IRQ = 12;

// Status register (read at 0x64).
export const I8042_STR_OBF = 0x01; // output buffer full
export const I8042_STR_IBF = 0x02; // input buffer full
export const I8042_STR_SYSFLAG = 0x04; // system flag (POST passed)
export const I8042_STR_CMDDAT = 0x08; // last write went to the command port
export const I8042_STR_KEYLOCK = 0x10; // 1 = keyboard not inhibited
export const I8042_STR_AUXDATA = 0x20; // output buffer holds AUX (mouse) data
export const I8042_STR_TIMEOUT = 0x40;
export const I8042_STR_PARITY = 0x80;

// Controller command byte ("CTR", RAM byte 0).
export const I8042_CTR_KBDINT = 0x01;
export const I8042_CTR_AUXINT = 0x02;
export const I8042_CTR_SYSFLAG = 0x04;
export const I8042_CTR_IGNKEYLOCK = 0x08;
export const I8042_CTR_KBDDIS = 0x10;
export const I8042_CTR_AUXDIS = 0x20;
export const I8042_CTR_XLATE = 0x40;

// Controller commands (written to 0x64).
export const I8042_CMD_READ_RAM = 0x20; // 0x20-0x3f: RAM byte n (0 = command byte)
export const I8042_CMD_WRITE_RAM = 0x60; // 0x60-0x7f
export const I8042_CMD_AUX_DISABLE = 0xa7;
export const I8042_CMD_AUX_ENABLE = 0xa8;
export const I8042_CMD_AUX_TEST = 0xa9;
export const I8042_CMD_CTL_TEST = 0xaa;
export const I8042_CMD_KBD_TEST = 0xab;
export const I8042_CMD_KBD_DISABLE = 0xad;
export const I8042_CMD_KBD_ENABLE = 0xae;
export const I8042_CMD_READ_INPUT = 0xc0;
export const I8042_CMD_READ_OUTPUT = 0xd0;
export const I8042_CMD_WRITE_OUTPUT = 0xd1;
export const I8042_CMD_WRITE_KBD_OBUF = 0xd2;
export const I8042_CMD_WRITE_AUX_OBUF = 0xd3;
export const I8042_CMD_WRITE_AUX = 0xd4;
export const I8042_CMD_READ_TEST = 0xe0;
export const I8042_CMD_PULSE_BASE = 0xf0; // 0xf0-0xff: pulse output bits 3:0 that are 0 in the command
export const I8042_CMD_RESET = 0xfe;

export const I8042_CTL_TEST_OK = 0x55;
export const I8042_PORT_TEST_OK = 0x00;

// Output port (read with 0xD0, written with 0xD1).
export const I8042_OUT_RESET = 0x01; // active low: 0 resets the CPU
export const I8042_OUT_A20 = 0x02;
export const I8042_OUT_KBD_OBF = 0x10;
export const I8042_OUT_AUX_OBF = 0x20;

// PS/2 keyboard protocol.
export const KBD_ACK = 0xfa;
export const KBD_RESEND = 0xfe;
export const KBD_BAT_OK = 0xaa;
export const KBD_ECHO = 0xee;
export const KBD_CMD_SET_LEDS = 0xed;
export const KBD_CMD_ECHO = 0xee;
export const KBD_CMD_SCANSET = 0xf0;
export const KBD_CMD_GET_ID = 0xf2;
export const KBD_CMD_SET_REP = 0xf3;
export const KBD_CMD_ENABLE = 0xf4;
export const KBD_CMD_RESET_DIS = 0xf5;
export const KBD_CMD_RESET_DEF = 0xf6;
export const KBD_CMD_RESET = 0xff;
/** MF2 keyboard ID as sent after GET_ID's ACK. */
export const KBD_ID: readonly number[] = [0xab, 0x83];
/** The same ID as the controller delivers it with translation on (0x83 is F7 in set 2, 0x41 in set 1). */
export const KBD_ID_TRANSLATED: readonly number[] = [0xab, 0x41];

/**
 * The command byte a PC BIOS leaves behind (SeaBIOS on QEMU leaves 0x61: keyboard
 * interrupt, AUX disabled, translation; we add the system flag it reports in the status).
 */
const POST_COMMAND_BYTE = I8042_CTR_KBDINT | I8042_CTR_SYSFLAG | I8042_CTR_AUXDIS | I8042_CTR_XLATE;
/** Output port after POST: reset and A20 high, bits 2-3 and keyboard clock/data high (QEMU reads 0xCF). */
const POST_OUTPUT_PORT = 0xcf;
const RAM_SIZE = 32;
/** Set-2 make codes of Left Ctrl (14), Left Alt (11) and Delete (E0 71). */
const CTRL_ALT_DEL_SET2: readonly number[] = [0x14, 0x11, 0xe0, 0x71];
/** The 8042's set-2 → set-1 translation for the bytes above (E0 passes through). */
const SET2_TO_SET1: ReadonlyMap<number, number> = new Map([
  [0x14, 0x1d],
  [0x11, 0x38],
  [0x71, 0x53],
]);
const OUTPUT_QUEUE_LIMIT = 64;

interface OutputByte {
  readonly value: number;
  readonly aux: boolean;
  readonly timeout: boolean;
}

const I8042_FIELDS = {
  ram: field.array(field.u8(), RAM_SIZE),
  sysFlag: field.bool(),
  lastWriteWasCommand: field.bool(),
  outputPort: field.u8(),
  output: field.array(field.record({ value: field.u8(), aux: field.bool(), timeout: field.bool() }), OUTPUT_QUEUE_LIMIT),
  lastData: field.u8(),
  pendingCommand: field.int(-1, 255),
  kbdPendingCommand: field.int(-1, 255),
  kbdScanning: field.bool(),
  kbdScanSet: field.int(1, 3),
} as const;

/** The persisted fields (src/util/persist.ts): controller RAM, output queue, pending commands, keyboard mode. */
export const I8042_PERSIST: PersistSchema<typeof I8042_FIELDS> = { kind: 'i8042', version: 1, fields: I8042_FIELDS };

/** Saved controller state: named fields under I8042_PERSIST. */
export type I8042State = FieldsOf<typeof I8042_FIELDS>;

export interface I8042Irqs {
  /** IRQ 1: keyboard output buffer full. */
  readonly kbd?: IrqLine;
  /** IRQ 12: AUX output buffer full. */
  readonly aux?: IrqLine;
}

export class I8042 implements BusDevice, Persist<typeof I8042_FIELDS> {
  readonly persistSchema = I8042_PERSIST;
  private readonly ram = new Uint8Array(RAM_SIZE);
  private sysFlag = true;
  private lastWriteWasCommand = false;
  private outputPort = POST_OUTPUT_PORT;
  /** Output buffer (head) and what is waiting behind it. */
  private out: OutputByte[] = [];
  private lastData = 0;
  /** Controller command waiting for its data byte. */
  private pendingCommand = -1;
  /** Keyboard command waiting for its parameter byte. */
  private kbdPendingCommand = -1;
  private kbdScanning = true;
  private kbdScanSet = 2;
  private kbdIrqLevel = false;
  private auxIrqLevel = false;
  /** Reset requests seen (a VM that ignores the stop request keeps running). */
  resets = 0;

  /** Adapters to register at 0x60 and 0x64 separately (0x61 belongs to the PIT/speaker). */
  readonly dataPort: BusDevice = {
    read: (_o, d) => this.read(0, d),
    write: (_o, d) => this.write(0, d),
  };
  readonly commandPort: BusDevice = {
    read: (_o, d) => this.read(4, d),
    write: (_o, d) => this.write(4, d),
  };

  constructor(
    private readonly vm: VmControl,
    private readonly irqs: I8042Irqs = {},
  ) {
    this.ram[0] = POST_COMMAND_BYTE;
  }

  /** Output-port A20 gate (the backends keep A20 enabled; this is reported for diagnostics). */
  get a20Enabled(): boolean {
    return (this.outputPort & I8042_OUT_A20) !== 0;
  }

  get commandByte(): number {
    return this.ram[0]!;
  }

  /** Offsets relative to 0x60: 0 = data, 4 = status/command; 1-3 are not ours and read all-ones. */
  read(offset: number, data: Uint8Array): void {
    const v = offset === 0 ? this.readData() : offset === 4 ? this.readStatus() : 0xff;
    data.fill(0xff);
    data[0] = v;
  }

  write(offset: number, data: Uint8Array): void {
    const v = data[0] ?? 0;
    if (offset === 0) this.writeData(v);
    else if (offset === 4) this.writeCommand(v);
  }

  // ---- registers ---------------------------------------------------------------------

  readStatus(): number {
    const head = this.out[0];
    let s = I8042_STR_KEYLOCK;
    if (this.sysFlag) s |= I8042_STR_SYSFLAG;
    if (this.lastWriteWasCommand) s |= I8042_STR_CMDDAT;
    if (head) {
      s |= I8042_STR_OBF;
      if (head.aux) s |= I8042_STR_AUXDATA;
      if (head.timeout) s |= I8042_STR_TIMEOUT;
    }
    return s;
  }

  readData(): number {
    const head = this.out.shift();
    if (head) {
      this.lastData = head.value;
      this.updateIrqs();
    }
    return this.lastData;
  }

  writeCommand(cmd: number): void {
    this.lastWriteWasCommand = true;
    this.pendingCommand = -1;
    if (cmd >= I8042_CMD_READ_RAM && cmd < I8042_CMD_READ_RAM + RAM_SIZE) {
      this.push(this.ram[cmd - I8042_CMD_READ_RAM]!);
      return;
    }
    if (cmd >= I8042_CMD_WRITE_RAM && cmd < I8042_CMD_WRITE_RAM + RAM_SIZE) {
      this.pendingCommand = cmd;
      return;
    }
    if (cmd >= I8042_CMD_PULSE_BASE) {
      // Bits 3:0 = 0 select the output lines to pulse low; bit 0 is the CPU reset line.
      if ((cmd & I8042_OUT_RESET) === 0) this.requestReset();
      return;
    }
    switch (cmd) {
      case I8042_CMD_AUX_DISABLE:
        this.ram[0]! |= I8042_CTR_AUXDIS;
        break;
      case I8042_CMD_AUX_ENABLE:
        this.ram[0]! &= ~I8042_CTR_AUXDIS;
        break;
      case I8042_CMD_AUX_TEST:
      case I8042_CMD_KBD_TEST:
        this.push(I8042_PORT_TEST_OK);
        break;
      case I8042_CMD_CTL_TEST:
        this.sysFlag = true;
        this.push(I8042_CTL_TEST_OK);
        break;
      case I8042_CMD_KBD_DISABLE:
        this.ram[0]! |= I8042_CTR_KBDDIS;
        break;
      case I8042_CMD_KBD_ENABLE:
        this.ram[0]! &= ~I8042_CTR_KBDDIS;
        break;
      case I8042_CMD_READ_INPUT:
        // Input port: bit 7 = keyboard not inhibited, bit 5 = no manufacturing jumper, bit 4 = 256 KiB+ board RAM.
        this.push(0xb0);
        break;
      case I8042_CMD_READ_OUTPUT: {
        let v = this.outputPort & ~(I8042_OUT_KBD_OBF | I8042_OUT_AUX_OBF);
        const head = this.out[0];
        if (head) v |= head.aux ? I8042_OUT_AUX_OBF : I8042_OUT_KBD_OBF;
        this.push(v);
        break;
      }
      case I8042_CMD_WRITE_OUTPUT:
      case I8042_CMD_WRITE_KBD_OBUF:
      case I8042_CMD_WRITE_AUX_OBUF:
      case I8042_CMD_WRITE_AUX:
        this.pendingCommand = cmd;
        break;
      case I8042_CMD_READ_TEST:
        this.push(0x00);
        break;
      default:
        // Unknown controller commands are ignored, as most 8042 clones do.
        break;
    }
  }

  writeData(v: number): void {
    this.lastWriteWasCommand = false;
    const cmd = this.pendingCommand;
    this.pendingCommand = -1;
    if (cmd >= I8042_CMD_WRITE_RAM && cmd < I8042_CMD_WRITE_RAM + RAM_SIZE) {
      this.ram[cmd - I8042_CMD_WRITE_RAM] = v;
      if (cmd === I8042_CMD_WRITE_RAM) {
        this.sysFlag = (v & I8042_CTR_SYSFLAG) !== 0;
        this.updateIrqs();
      }
      return;
    }
    switch (cmd) {
      case I8042_CMD_WRITE_OUTPUT:
        this.outputPort = v & ~(I8042_OUT_KBD_OBF | I8042_OUT_AUX_OBF);
        if ((v & I8042_OUT_RESET) === 0) {
          this.requestReset();
          this.outputPort |= I8042_OUT_RESET;
        }
        return;
      case I8042_CMD_WRITE_KBD_OBUF:
        this.push(v);
        return;
      case I8042_CMD_WRITE_AUX_OBUF:
        this.push(v, true);
        return;
      case I8042_CMD_WRITE_AUX:
        // No mouse is attached: the controller reports a timeout on the AUX channel.
        this.push(KBD_RESEND, true, true);
        return;
      default:
        this.keyboardCommand(v);
    }
  }

  /** A byte for the PS/2 keyboard (a data-port write with no controller command pending). */
  private keyboardCommand(v: number): void {
    // Talking to the keyboard enables the keyboard interface.
    this.ram[0]! &= ~I8042_CTR_KBDDIS;
    const pending = this.kbdPendingCommand;
    if (pending >= 0) {
      this.kbdPendingCommand = -1;
      this.push(KBD_ACK);
      if (pending === KBD_CMD_SCANSET) {
        if (v === 0) this.push(this.kbdScanSet);
        else if (v >= 1 && v <= 3) this.kbdScanSet = v;
      }
      return;
    }
    switch (v) {
      case KBD_CMD_SET_LEDS:
      case KBD_CMD_SET_REP:
      case KBD_CMD_SCANSET:
        this.kbdPendingCommand = v;
        this.push(KBD_ACK);
        break;
      case KBD_CMD_ECHO:
        this.push(KBD_ECHO);
        break;
      case KBD_CMD_GET_ID:
        this.push(KBD_ACK);
        for (const b of this.ram[0]! & I8042_CTR_XLATE ? KBD_ID_TRANSLATED : KBD_ID) this.push(b);
        break;
      case KBD_CMD_ENABLE:
        this.kbdScanning = true;
        this.push(KBD_ACK);
        break;
      case KBD_CMD_RESET_DIS:
        this.kbdScanning = false;
        this.push(KBD_ACK);
        break;
      case KBD_CMD_RESET_DEF:
        this.kbdScanning = true;
        this.kbdScanSet = 2;
        this.push(KBD_ACK);
        break;
      case KBD_CMD_RESET:
        this.kbdScanning = true;
        this.kbdScanSet = 2;
        this.push(KBD_ACK);
        this.push(KBD_BAT_OK);
        break;
      default:
        // 0xF7-0xFD (set key types, resend) are acknowledged; anything else asks for a resend.
        this.push(v >= 0xf7 ? KBD_ACK : KBD_RESEND);
    }
  }

  /**
   * Types Ctrl+Alt+Del as Firecracker's SendCtrlAltDel does: the three key presses (no releases),
   * set-2 make codes translated to set 1 when the command byte asks for translation (as SeaBIOS
   * leaves it). A guest keyboard driver reboots on it, normally through the reset line (command
   * 0xFE), which stops the VM with `{kind:'reset', source:'i8042'}`. Returns false, queueing
   * nothing, when the output queue has no room for all four bytes.
   */
  sendCtrlAltDel(): boolean {
    if (this.out.length + CTRL_ALT_DEL_SET2.length > OUTPUT_QUEUE_LIMIT) return false;
    const xlate = (this.ram[0]! & I8042_CTR_XLATE) !== 0;
    for (const b of CTRL_ALT_DEL_SET2) this.push(xlate ? (SET2_TO_SET1.get(b) ?? b) : b);
    return true;
  }

  /** Whether the keyboard would send scan codes (after 0xF4 / before 0xF5). */
  get keyboardScanning(): boolean {
    return this.kbdScanning;
  }

  // ---- internals ---------------------------------------------------------------------

  private requestReset(): void {
    this.resets++;
    this.vm.requestStop({ kind: 'reset', source: 'i8042' });
  }

  private push(value: number, aux = false, timeout = false): void {
    // A guest that never reads the data port must not grow the queue without bound.
    if (this.out.length >= OUTPUT_QUEUE_LIMIT) return;
    this.out.push({ value: value & 0xff, aux, timeout });
    this.updateIrqs();
  }

  private updateIrqs(): void {
    const head = this.out[0];
    const ctr = this.ram[0]!;
    const kbd = head !== undefined && !head.aux && (ctr & I8042_CTR_KBDINT) !== 0;
    const aux = head !== undefined && head.aux && (ctr & I8042_CTR_AUXINT) !== 0;
    if (kbd !== this.kbdIrqLevel) {
      this.kbdIrqLevel = kbd;
      this.irqs.kbd?.set(kbd);
    }
    if (aux !== this.auxIrqLevel) {
      this.auxIrqLevel = aux;
      this.irqs.aux?.set(aux);
    }
  }

  // ---- state -------------------------------------------------------------------------

  saveState(): I8042State {
    return {
      ram: [...this.ram],
      sysFlag: this.sysFlag,
      lastWriteWasCommand: this.lastWriteWasCommand,
      outputPort: this.outputPort,
      output: this.out.map((o) => ({ ...o })),
      lastData: this.lastData,
      pendingCommand: this.pendingCommand,
      kbdPendingCommand: this.kbdPendingCommand,
      kbdScanning: this.kbdScanning,
      kbdScanSet: this.kbdScanSet,
    };
  }

  restoreState(s: I8042State): void {
    if (s.ram.length !== RAM_SIZE) throw new RangeError(`i8042 state has ${s.ram.length} RAM bytes (expected ${RAM_SIZE})`);
    this.ram.set(s.ram);
    this.sysFlag = s.sysFlag;
    this.lastWriteWasCommand = s.lastWriteWasCommand;
    this.outputPort = s.outputPort & 0xff;
    this.out = s.output.slice(0, OUTPUT_QUEUE_LIMIT).map((o) => ({ value: o.value & 0xff, aux: o.aux, timeout: o.timeout }));
    this.lastData = s.lastData & 0xff;
    this.pendingCommand = s.pendingCommand;
    this.kbdPendingCommand = s.kbdPendingCommand;
    this.kbdScanning = s.kbdScanning;
    this.kbdScanSet = s.kbdScanSet;
    this.updateIrqs();
  }
}
