import { field, type FieldsOf, type Persist, type PersistSchema } from '../../util/persist.js';
import type { BusDevice } from '../../cpu/bus.js';
import type { IrqLine } from '../../cpu/irq.js';
import type { SerialSink } from './serial-sink.js';

/*
 * National Semiconductor PC16550D-compatible UART ("16550A"), as found at COM1 on a PC.
 *
 * Timing model: transmission is instantaneous (a THR write reaches the sink, or the
 * receiver in loopback mode, before the write returns), so THRE and TEMT always read 1
 * and the transmitter FIFO is always empty. The receiver's "character timeout" (4
 * character times without FIFO activity) is taken as already elapsed whenever the RX
 * FIFO holds data below the trigger level and no more host input is waiting: the guest
 * cannot tell a zero delay from a short one, and every driver treats the two the same.
 *
 * Host input never overruns: `receive()` queues bytes beyond the FIFO and feeds them in
 * as the guest drains it (flow control the real wire lacks). Overrun (LSR.OE) happens
 * exactly as on the chip for characters that arrive through the loopback path. Breaks
 * (`receiveBreak()`, or LCR.BREAK in loopback) arrive as a 0x00 character whose BI shows
 * in LSR when it reaches the top of the FIFO; there are no parity or framing errors.
 */

// Register offsets from the base (DLAB = LCR bit 7 selects the divisor latch at 0/1).
export const UART_RBR = 0; // receiver buffer (read, DLAB=0)
export const UART_THR = 0; // transmitter holding (write, DLAB=0)
export const UART_DLL = 0; // divisor latch LSB (DLAB=1)
export const UART_IER = 1; // interrupt enable (DLAB=0)
export const UART_DLM = 1; // divisor latch MSB (DLAB=1)
export const UART_IIR = 2; // interrupt identification (read)
export const UART_FCR = 2; // FIFO control (write)
export const UART_LCR = 3; // line control
export const UART_MCR = 4; // modem control
export const UART_LSR = 5; // line status
export const UART_MSR = 6; // modem status
export const UART_SCR = 7; // scratch
export const UART_REGISTER_COUNT = 8;

export const COM1_BASE = 0x3f8;
export const COM1_IRQ = 4;
/** Input clock 1.8432 MHz / 16: the baud rate for divisor 1. */
export const UART_BASE_BAUD = 115200;
export const UART_FIFO_SIZE = 16;

// IER
export const UART_IER_ERBFI = 0x01; // received data available
export const UART_IER_ETBEI = 0x02; // transmitter holding register empty
export const UART_IER_ELSI = 0x04; // receiver line status
export const UART_IER_EDSSI = 0x08; // modem status
// IIR: bit 0 = 0 when an interrupt is pending; bits 3:1 the source; bits 7:6 = 11 in FIFO mode.
export const UART_IIR_NO_INT = 0x01;
export const UART_IIR_RLS = 0x06;
export const UART_IIR_RDA = 0x04;
export const UART_IIR_CTI = 0x0c;
export const UART_IIR_THRE = 0x02;
export const UART_IIR_MS = 0x00;
export const UART_IIR_FIFO_ENABLED = 0xc0;
// FCR
export const UART_FCR_FIFO_ENABLE = 0x01;
export const UART_FCR_RCVR_RESET = 0x02;
export const UART_FCR_XMIT_RESET = 0x04;
export const UART_FCR_DMA_MODE = 0x08;
export const UART_FCR_TRIGGER_SHIFT = 6;
/** RX trigger levels for FCR[7:6] = 00, 01, 10, 11. */
export const UART_RX_TRIGGER_LEVELS: readonly number[] = [1, 4, 8, 14];
// LCR
export const UART_LCR_WLS = 0x03;
export const UART_LCR_STB = 0x04;
export const UART_LCR_PEN = 0x08;
export const UART_LCR_EPS = 0x10;
export const UART_LCR_STICK = 0x20;
export const UART_LCR_BREAK = 0x40;
export const UART_LCR_DLAB = 0x80;
// MCR (bits 7:5 are always 0 on the 16550A)
export const UART_MCR_DTR = 0x01;
export const UART_MCR_RTS = 0x02;
export const UART_MCR_OUT1 = 0x04;
export const UART_MCR_OUT2 = 0x08;
export const UART_MCR_LOOP = 0x10;
const MCR_MASK = 0x1f;
// LSR
export const UART_LSR_DR = 0x01;
export const UART_LSR_OE = 0x02;
export const UART_LSR_PE = 0x04;
export const UART_LSR_FE = 0x08;
export const UART_LSR_BI = 0x10;
export const UART_LSR_THRE = 0x20;
export const UART_LSR_TEMT = 0x40;
export const UART_LSR_RCVR_FIFO_ERROR = 0x80;
const LSR_ERROR_BITS = UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI;
// MSR
export const UART_MSR_DCTS = 0x01;
export const UART_MSR_DDSR = 0x02;
export const UART_MSR_TERI = 0x04;
export const UART_MSR_DDCD = 0x08;
export const UART_MSR_CTS = 0x10;
export const UART_MSR_DSR = 0x20;
export const UART_MSR_RI = 0x40;
export const UART_MSR_DCD = 0x80;
const MSR_DELTA_BITS = 0x0f;

/** The modem-control inputs of the chip as the "cable" drives them (true = asserted). */
export interface ModemInputs {
  readonly cts: boolean;
  readonly dsr: boolean;
  readonly ri: boolean;
  readonly dcd: boolean;
}

export interface Uart16550aOptions {
  /**
   * PC wiring: the IRQ output reaches the interrupt controller only while MCR.OUT2 is set
   * (and never in loopback mode, where the chip forces its OUT2 pin inactive). Default true.
   */
  readonly out2GatesIrq?: boolean;
  /** Modem inputs from the host side; default: a connected terminal (CTS, DSR, DCD asserted). */
  readonly modemInputs?: ModemInputs;
  /** Time source for `firstTransmitTime` (ms); default `performance.now()`. */
  readonly now?: () => number;
}

/** Host input kept in a saved state at most (a guest that never reads COM1 cannot grow a snapshot without bound). */
export const UART_STATE_MAX_HOST_INPUT = 1 << 20;

/**
 * The persisted fields (src/util/persist.ts): registers, the RX FIFO with its per-byte flags, and
 * host input not yet in the FIFO (bytes, UART_STATE_BREAK (-1) for a break).
 */
const UART_FIELDS = {
  ier: field.u8(),
  lcr: field.u8(),
  mcr: field.u8(),
  scr: field.u8(),
  dll: field.u8(),
  dlm: field.u8(),
  fifoEnabled: field.bool(),
  fcrTrigger: field.int(0, 3),
  dmaMode: field.bool(),
  lsrErrors: field.u8(),
  msrDelta: field.u8(),
  thrInterruptPending: field.bool(),
  lastRbr: field.u8(),
  rxFifo: field.array(field.u8(), 16),
  rxFifoFromHost: field.array(field.bool(), 16),
  rxFifoBreak: field.array(field.bool(), 16),
  hostInput: field.array(field.int(-1, 255), UART_STATE_MAX_HOST_INPUT),
  externalModemInputs: field.record({ cts: field.bool(), dsr: field.bool(), ri: field.bool(), dcd: field.bool() }),
} as const;

export const UART_PERSIST: PersistSchema<typeof UART_FIELDS> = { kind: 'uart-16550a', version: 1, fields: UART_FIELDS };

/** Saved device state: named fields under UART_PERSIST. */
export type Uart16550aState = FieldsOf<typeof UART_FIELDS>;

const RX_FROM_HOST = 1;
const RX_BREAK = 2;
/** In saved host input, a break condition. */
export const UART_STATE_BREAK = -1;

const DEFAULT_MODEM_INPUTS: ModemInputs = { cts: true, dsr: true, ri: false, dcd: true };

function inputsToMsr(i: ModemInputs): number {
  return (i.cts ? UART_MSR_CTS : 0) | (i.dsr ? UART_MSR_DSR : 0) | (i.ri ? UART_MSR_RI : 0) | (i.dcd ? UART_MSR_DCD : 0);
}

/** Host input as queue chunks: runs of bytes, and null for each break (UART_STATE_BREAK). */
function toHostChunks(items: readonly number[]): (Uint8Array | null)[] {
  const out: (Uint8Array | null)[] = [];
  let run: number[] = [];
  for (const v of items) {
    if (v === UART_STATE_BREAK) {
      if (run.length) out.push(Uint8Array.from(run));
      run = [];
      out.push(null);
    } else run.push(v & 0xff);
  }
  if (run.length) out.push(Uint8Array.from(run));
  return out;
}

function defaultNow(): number {
  return globalThis.performance.now();
}

export class Uart16550a implements BusDevice, Persist<typeof UART_FIELDS> {
  readonly persistSchema = UART_PERSIST;
  // Programmable registers.
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private scr = 0;
  private dll = 0x0c; // 9600 baud; the divisor is not affected by reset on the real chip
  private dlm = 0;
  private fifoEnabled = false;
  private fcrTrigger = 0; // FCR[7:6]
  private dmaMode = false;
  /** OE/PE/FE/BI, sticky until LSR is read. */
  private lsrErrors = 0;
  /** MSR[7:4] as currently seen (from the cable, or from MCR in loopback) and MSR[3:0] deltas. */
  private msrInputs: number;
  private msrDelta = 0;
  private externalMsr: number;
  /** THRE interrupt latch: set when THR becomes empty, cleared by an IIR read that reports it or a THR write. */
  private thrInterruptPending = false;
  private lastRbr = 0;

  // Receiver FIFO (capacity 16 in FIFO mode, 1 = the RBR in 16450 mode) as a ring.
  private readonly rxData = new Uint8Array(UART_FIFO_SIZE);
  /** Per FIFO byte: RX_FROM_HOST (a FIFO reset hands it back: host input is never lost) and RX_BREAK. */
  private readonly rxFlags = new Uint8Array(UART_FIFO_SIZE);
  private rxHead = 0;
  private rxCount = 0;

  // Host input not yet in the FIFO: chunks (null = a break) plus a read offset into the first one.
  private hostQueue: (Uint8Array | null)[] = [];
  private hostQueueOffset = 0;
  private hostQueued = 0;

  private irqLevel = false;
  private readonly out2GatesIrq: boolean;
  private readonly txByte = new Uint8Array(1);
  private readonly now: () => number;

  /** Bytes the guest has transmitted to the sink (loopback bytes excluded). */
  bytesTransmitted = 0;
  /** When the first byte reached the sink (per the `now` option), undefined before. */
  firstTransmitTime: number | undefined;
  private firstTransmitResolve: (() => void) | undefined;
  /** Resolves when the first byte reaches the sink (e.g. for a start-up benchmark). */
  readonly firstTransmit: Promise<void>;

  constructor(
    private readonly irq: IrqLine,
    private sink: SerialSink,
    options: Uart16550aOptions = {},
  ) {
    this.out2GatesIrq = options.out2GatesIrq ?? true;
    this.now = options.now ?? defaultNow;
    this.externalMsr = inputsToMsr(options.modemInputs ?? DEFAULT_MODEM_INPUTS);
    this.msrInputs = this.externalMsr;
    this.thrInterruptPending = false;
    this.firstTransmit = new Promise<void>((resolve) => {
      this.firstTransmitResolve = resolve;
    });
  }

  /** Replaces where transmitted bytes go (e.g. when a console attaches). */
  setSink(sink: SerialSink): void {
    this.sink = sink;
  }

  // ---- host side -------------------------------------------------------------------

  /** Host input for the guest. Queued without limit and fed into the RX FIFO as the guest drains it. */
  receive(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.hostQueue.push(bytes.slice());
    this.hostQueued += bytes.length;
    this.feedFromHost();
    this.updateIrq();
  }

  /**
   * A break condition from the host (e.g. Linux's magic SysRq over serial): after the
   * queued bytes, the receiver gets one 0x00 character with LSR.BI.
   */
  receiveBreak(): void {
    this.hostQueue.push(null);
    this.hostQueued++;
    this.feedFromHost();
    this.updateIrq();
  }

  /** Host bytes (and breaks) not yet delivered to the guest's FIFO. */
  get hostInputPending(): number {
    return this.hostQueued;
  }

  /** Changes the modem inputs the cable drives (sets MSR delta bits as the chip would). */
  setModemInputs(inputs: ModemInputs): void {
    this.externalMsr = inputsToMsr(inputs);
    this.refreshModemInputs();
    this.updateIrq();
  }

  /** Divisor latch value (DLM:DLL). */
  get divisor(): number {
    return (this.dlm << 8) | this.dll;
  }

  /** Programmed baud rate, or 0 for divisor 0. */
  get baudRate(): number {
    const d = this.divisor;
    return d === 0 ? 0 : UART_BASE_BAUD / d;
  }

  /** Whether the IRQ output is currently asserted (after OUT2 gating). */
  get irqAsserted(): boolean {
    return this.irqLevel;
  }

  /** Power-on reset (the MR pin): registers to their datasheet reset values; queued host input is kept. */
  reset(): void {
    this.returnHostBytesAndClearRx();
    this.ier = 0;
    this.lcr = 0;
    this.mcr = 0;
    this.fifoEnabled = false;
    this.fcrTrigger = 0;
    this.dmaMode = false;
    this.lsrErrors = 0;
    this.msrDelta = 0;
    this.msrInputs = this.externalMsr;
    this.thrInterruptPending = false;
    this.feedFromHost();
    this.updateIrq();
  }

  // ---- bus side ----------------------------------------------------------------------

  read(offset: number, data: Uint8Array): void {
    // A wider access to an 8-bit ISA device is split into byte accesses at ascending ports.
    for (let i = 0; i < data.length; i++) data[i] = this.readRegister(offset + i);
  }

  write(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) this.writeRegister(offset + i, data[i]!);
  }

  readRegister(reg: number): number {
    switch (reg) {
      case UART_RBR:
        return this.lcr & UART_LCR_DLAB ? this.dll : this.readRbr();
      case UART_IER:
        return this.lcr & UART_LCR_DLAB ? this.dlm : this.ier;
      case UART_IIR:
        return this.readIir();
      case UART_LCR:
        return this.lcr;
      case UART_MCR:
        return this.mcr;
      case UART_LSR:
        return this.readLsr();
      case UART_MSR:
        return this.readMsr();
      case UART_SCR:
        return this.scr;
      default:
        return 0xff;
    }
  }

  writeRegister(reg: number, value: number): void {
    value &= 0xff;
    switch (reg) {
      case UART_THR:
        if (this.lcr & UART_LCR_DLAB) this.dll = value;
        else this.writeThr(value);
        return;
      case UART_IER:
        if (this.lcr & UART_LCR_DLAB) this.dlm = value;
        else this.writeIer(value);
        return;
      case UART_FCR:
        this.writeFcr(value);
        return;
      case UART_LCR: {
        const old = this.lcr;
        this.lcr = value;
        // Setting break in loopback: the receiver sees the line go spacing, one break character.
        if (value & UART_LCR_BREAK && !(old & UART_LCR_BREAK) && this.mcr & UART_MCR_LOOP) {
          this.receiveFromLine(0, RX_BREAK);
          this.updateIrq();
        }
        return;
      }
      case UART_MCR:
        this.writeMcr(value);
        return;
      case UART_SCR:
        this.scr = value;
        return;
      default:
        // LSR and MSR are read-only here (LSR writes are a factory test mode on the chip).
        return;
    }
  }

  // ---- registers ---------------------------------------------------------------------

  private readRbr(): number {
    if (this.rxCount > 0) {
      this.lastRbr = this.rxData[this.rxHead]!;
      this.rxHead = (this.rxHead + 1) % UART_FIFO_SIZE;
      this.rxCount--;
      // A character's error shows in LSR when it reaches the top of the FIFO.
      if (this.rxCount > 0 && this.rxFlags[this.rxHead]! & RX_BREAK) this.lsrErrors |= UART_LSR_BI;
      this.feedFromHost();
      this.updateIrq();
    }
    // An empty receiver returns the last character again, as the holding register does.
    return this.lastRbr;
  }

  private writeThr(value: number): void {
    // The THRE interrupt drops when THR is written and rises again when it empties; the
    // two updates give an edge-triggered PIC the fresh edge it needs for the next burst.
    this.thrInterruptPending = false;
    this.updateIrq();
    this.transmit(value);
    this.thrInterruptPending = true;
    this.updateIrq();
  }

  private transmit(value: number): void {
    if (this.mcr & UART_MCR_LOOP) {
      // Loopback: SOUT is held marking and the shift register feeds the receiver
      // (while LCR.BREAK holds the line spacing, the character is lost in the break).
      if (!(this.lcr & UART_LCR_BREAK)) this.receiveFromLine(value, 0);
      return;
    }
    this.txByte[0] = value;
    this.bytesTransmitted++;
    if (this.firstTransmitTime === undefined) {
      this.firstTransmitTime = this.now();
      this.firstTransmitResolve?.();
      this.firstTransmitResolve = undefined;
    }
    this.sink.write(this.txByte);
  }

  private writeIer(value: number): void {
    const old = this.ier;
    this.ier = value & 0x0f; // bits 7:4 are always 0 on the 16550A
    if ((old ^ this.ier) & UART_IER_ETBEI) {
      // Enabling ETBEI while THR is empty raises the THRE interrupt at once (Linux's
      // THRE test and Windows rely on it); disabling drops the latch.
      this.thrInterruptPending = (this.ier & UART_IER_ETBEI) !== 0;
    }
    this.updateIrq();
  }

  private readIir(): number {
    const id = this.interruptId();
    if (id === UART_IIR_THRE) {
      this.thrInterruptPending = false;
      this.updateIrq();
    }
    return id | (this.fifoEnabled ? UART_IIR_FIFO_ENABLED : 0);
  }

  private writeFcr(value: number): void {
    const enable = (value & UART_FCR_FIFO_ENABLE) !== 0;
    if (enable !== this.fifoEnabled) {
      // Changing FCR0 clears both FIFOs.
      this.returnHostBytesAndClearRx();
      this.fifoEnabled = enable;
    }
    if (enable) {
      // The other FCR bits are programmed only while FCR0 is set.
      if (value & UART_FCR_RCVR_RESET) this.returnHostBytesAndClearRx();
      // XMIT reset: the transmitter FIFO is always empty in this model.
      this.dmaMode = (value & UART_FCR_DMA_MODE) !== 0;
      this.fcrTrigger = value >>> UART_FCR_TRIGGER_SHIFT;
    }
    this.feedFromHost();
    this.updateIrq();
  }

  private writeMcr(value: number): void {
    const wasLoop = (this.mcr & UART_MCR_LOOP) !== 0;
    this.mcr = value & MCR_MASK;
    this.refreshModemInputs();
    if (wasLoop && !(this.mcr & UART_MCR_LOOP)) this.feedFromHost();
    this.updateIrq();
  }

  private readLsr(): number {
    const v = this.lsrValue();
    if (this.lsrErrors) {
      this.lsrErrors = 0;
      this.updateIrq();
    }
    return v;
  }

  private lsrValue(): number {
    let v = (this.rxCount > 0 ? UART_LSR_DR : 0) | this.lsrErrors | UART_LSR_THRE | UART_LSR_TEMT;
    // LSR[7]: some character in the FIFO carries an error (only breaks here: no parity/framing errors on a virtual line).
    if (this.fifoEnabled) {
      for (let i = 0; i < this.rxCount; i++) {
        if (this.rxFlags[(this.rxHead + i) % UART_FIFO_SIZE]! & RX_BREAK) {
          v |= UART_LSR_RCVR_FIFO_ERROR;
          break;
        }
      }
    }
    return v;
  }

  private readMsr(): number {
    const v = this.msrInputs | this.msrDelta;
    if (this.msrDelta) {
      this.msrDelta = 0;
      this.updateIrq();
    }
    return v;
  }

  /** Recomputes MSR[7:4] from the cable or (loopback) from MCR, latching delta bits. */
  private refreshModemInputs(): void {
    let next: number;
    if (this.mcr & UART_MCR_LOOP) {
      // Loopback wiring: RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD.
      next =
        (this.mcr & UART_MCR_RTS ? UART_MSR_CTS : 0) |
        (this.mcr & UART_MCR_DTR ? UART_MSR_DSR : 0) |
        (this.mcr & UART_MCR_OUT1 ? UART_MSR_RI : 0) |
        (this.mcr & UART_MCR_OUT2 ? UART_MSR_DCD : 0);
    } else {
      next = this.externalMsr;
    }
    const changed = next ^ this.msrInputs;
    if (changed & UART_MSR_CTS) this.msrDelta |= UART_MSR_DCTS;
    if (changed & UART_MSR_DSR) this.msrDelta |= UART_MSR_DDSR;
    if (changed & UART_MSR_DCD) this.msrDelta |= UART_MSR_DDCD;
    // TERI: trailing edge of RI only (RI asserted → deasserted).
    if (changed & UART_MSR_RI && !(next & UART_MSR_RI)) this.msrDelta |= UART_MSR_TERI;
    this.msrInputs = next;
  }

  // ---- receiver ----------------------------------------------------------------------

  private get rxCapacity(): number {
    return this.fifoEnabled ? UART_FIFO_SIZE : 1;
  }

  private get rxTriggerLevel(): number {
    return UART_RX_TRIGGER_LEVELS[this.fcrTrigger & 3]!;
  }

  private pushRx(value: number, flags: number): void {
    const tail = (this.rxHead + this.rxCount) % UART_FIFO_SIZE;
    this.rxData[tail] = value;
    this.rxFlags[tail] = flags;
    if (this.rxCount === 0 && flags & RX_BREAK) this.lsrErrors |= UART_LSR_BI;
    this.rxCount++;
  }

  /** A character arrives on the serial line now (loopback path): overruns when full. */
  private receiveFromLine(value: number, flags: number): void {
    if (this.rxCount < this.rxCapacity) {
      this.pushRx(value, flags);
    } else if (this.fifoEnabled) {
      // FIFO mode: the character in the shift register is lost, the FIFO keeps its contents.
      this.lsrErrors |= UART_LSR_OE;
    } else {
      // 16450 mode: the new character overwrites the unread one in RBR.
      const at = this.rxHead;
      this.rxData[at] = value;
      this.rxFlags[at] = flags;
      this.lsrErrors |= UART_LSR_OE | (flags & RX_BREAK ? UART_LSR_BI : 0);
    }
  }

  /** Moves queued host input into the receiver while it has room (not in loopback: SIN is disconnected). */
  private feedFromHost(): void {
    if (this.mcr & UART_MCR_LOOP) return;
    const cap = this.rxCapacity;
    while (this.rxCount < cap && this.hostQueued > 0) {
      const chunk = this.hostQueue[0]!;
      this.hostQueued--;
      if (chunk === null) {
        this.pushRx(0, RX_FROM_HOST | RX_BREAK);
        this.hostQueue.shift();
        continue;
      }
      this.pushRx(chunk[this.hostQueueOffset]!, RX_FROM_HOST);
      if (++this.hostQueueOffset === chunk.length) {
        this.hostQueue.shift();
        this.hostQueueOffset = 0;
      }
    }
  }

  /** Clears the RX FIFO; bytes that came from the host go back to the front of the host queue. */
  private returnHostBytesAndClearRx(): void {
    // A reported break belongs to a character that is now gone.
    this.lsrErrors &= ~UART_LSR_BI;
    const back: number[] = [];
    for (let i = 0; i < this.rxCount; i++) {
      const at = (this.rxHead + i) % UART_FIFO_SIZE;
      const f = this.rxFlags[at]!;
      if (f & RX_FROM_HOST) back.push(f & RX_BREAK ? UART_STATE_BREAK : this.rxData[at]!);
    }
    this.rxHead = 0;
    this.rxCount = 0;
    if (back.length === 0) return;
    const first = this.hostQueue[0];
    if (first && this.hostQueueOffset > 0) {
      this.hostQueue[0] = first.subarray(this.hostQueueOffset);
      this.hostQueueOffset = 0;
    }
    this.hostQueue.unshift(...toHostChunks(back));
    this.hostQueued += back.length;
  }

  // ---- interrupts --------------------------------------------------------------------

  /** The highest-priority pending, enabled interrupt as IIR[3:0]. */
  private interruptId(): number {
    const ier = this.ier;
    if (ier & UART_IER_ELSI && this.lsrErrors) return UART_IIR_RLS;
    if (ier & UART_IER_ERBFI && this.rxCount > 0) {
      if (!this.fifoEnabled || this.rxCount >= this.rxTriggerLevel) return UART_IIR_RDA;
      // Below the trigger level with the line idle: the character timeout (see file comment).
      if (this.hostQueued === 0 || this.mcr & UART_MCR_LOOP) return UART_IIR_CTI;
    }
    if (ier & UART_IER_ETBEI && this.thrInterruptPending) return UART_IIR_THRE;
    if (ier & UART_IER_EDSSI && this.msrDelta) return UART_IIR_MS;
    return UART_IIR_NO_INT;
  }

  private updateIrq(): void {
    let level = this.interruptId() !== UART_IIR_NO_INT;
    if (level && this.out2GatesIrq) level = (this.mcr & (UART_MCR_OUT2 | UART_MCR_LOOP)) === UART_MCR_OUT2;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq.set(level);
    }
  }

  // ---- state -------------------------------------------------------------------------

  saveState(): Uart16550aState {
    const rxFifo: number[] = [];
    const rxFifoFromHost: boolean[] = [];
    const rxFifoBreak: boolean[] = [];
    for (let i = 0; i < this.rxCount; i++) {
      const at = (this.rxHead + i) % UART_FIFO_SIZE;
      rxFifo.push(this.rxData[at]!);
      rxFifoFromHost.push((this.rxFlags[at]! & RX_FROM_HOST) !== 0);
      rxFifoBreak.push((this.rxFlags[at]! & RX_BREAK) !== 0);
    }
    // Host input beyond UART_STATE_MAX_HOST_INPUT is not saved (a guest that never reads would otherwise grow it).
    const hostInput: number[] = [];
    this.hostQueue.forEach((c, i) => {
      if (hostInput.length >= UART_STATE_MAX_HOST_INPUT) return;
      if (c === null) hostInput.push(UART_STATE_BREAK);
      else for (const b of c.subarray(i === 0 ? this.hostQueueOffset : 0)) if (hostInput.length < UART_STATE_MAX_HOST_INPUT) hostInput.push(b);
    });
    return {
      ier: this.ier,
      lcr: this.lcr,
      mcr: this.mcr,
      scr: this.scr,
      dll: this.dll,
      dlm: this.dlm,
      fifoEnabled: this.fifoEnabled,
      fcrTrigger: this.fcrTrigger,
      dmaMode: this.dmaMode,
      lsrErrors: this.lsrErrors,
      msrDelta: this.msrDelta,
      thrInterruptPending: this.thrInterruptPending,
      lastRbr: this.lastRbr,
      rxFifo,
      rxFifoFromHost,
      rxFifoBreak,
      hostInput,
      externalModemInputs: {
        cts: (this.externalMsr & UART_MSR_CTS) !== 0,
        dsr: (this.externalMsr & UART_MSR_DSR) !== 0,
        ri: (this.externalMsr & UART_MSR_RI) !== 0,
        dcd: (this.externalMsr & UART_MSR_DCD) !== 0,
      },
    };
  }

  restoreState(s: Uart16550aState): void {
    if (s.rxFifo.length > UART_FIFO_SIZE) throw new RangeError(`UART state has ${s.rxFifo.length} RX FIFO bytes (at most ${UART_FIFO_SIZE})`);
    this.ier = s.ier & 0x0f;
    this.lcr = s.lcr & 0xff;
    this.mcr = s.mcr & MCR_MASK;
    this.scr = s.scr & 0xff;
    this.dll = s.dll & 0xff;
    this.dlm = s.dlm & 0xff;
    this.fifoEnabled = s.fifoEnabled;
    this.fcrTrigger = s.fcrTrigger & 3;
    this.dmaMode = s.dmaMode;
    this.thrInterruptPending = s.thrInterruptPending;
    this.lastRbr = s.lastRbr & 0xff;
    this.rxHead = 0;
    this.rxCount = 0;
    s.rxFifo.forEach((b, i) => this.pushRx(b, (s.rxFifoFromHost[i] ? RX_FROM_HOST : 0) | (s.rxFifoBreak[i] ? RX_BREAK : 0)));
    this.lsrErrors = s.lsrErrors & LSR_ERROR_BITS; // as saved, not as re-derived from the FIFO head
    this.hostQueue = toHostChunks(s.hostInput);
    this.hostQueueOffset = 0;
    this.hostQueued = s.hostInput.length;
    this.externalMsr = inputsToMsr(s.externalModemInputs);
    this.msrInputs = this.externalMsr;
    this.refreshModemInputs();
    this.msrDelta = s.msrDelta & MSR_DELTA_BITS;
    this.updateIrq();
  }
}
