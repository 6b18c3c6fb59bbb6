/**
 * One gdb connection: the remote protocol's commands on top of a GdbTarget. Transport-free
 * (`receive` bytes, `send` callback), so it is tested without sockets.
 */
import { RspDecoder, encodePacket, fromHex, parseHexNumber, toHex, unescapeBinary } from './rsp-codec.js';
import { GDB_REGISTERS, targetXml } from './target-description.js';
import type { GdbTarget, StopEvent, StopNote, ZType } from './gdb-target.js';

const SIGINT = 2;
const SIGTRAP = 5;
/** Largest `m` reply we produce (hex doubles it): qSupported's PacketSize is above twice this. */
const MAX_READ = 0x2000;

export class GdbSession {
  private readonly decoder = new RspDecoder();
  private noAck = false;
  /** Thread for register and memory commands (Hg) and for resumption (Hc). */
  private gThread = 1;
  private running = false;
  private lastStop: StopEvent;
  private xml: string | undefined;
  private physical = false;
  private closed = false;

  constructor(
    private readonly target: GdbTarget,
    private readonly send: (bytes: Uint8Array) => void,
    /** Called when gdb detaches or kills: the transport closes the connection. */
    private readonly onEnd: () => void = () => undefined,
    initial: StopEvent = { kind: 'signal', thread: 1, signal: SIGTRAP },
  ) {
    this.lastStop = initial;
    target.attach?.();
    target.onStop = (e) => this.stopped(e);
  }

  /** Bytes from gdb. */
  receive(chunk: Uint8Array): void {
    for (const ev of this.decoder.feed(chunk)) {
      if (this.closed) return;
      switch (ev.kind) {
        case 'interrupt':
          if (this.running) this.target.interrupt();
          break;
        case 'bad-checksum':
          if (!this.noAck) this.send(Uint8Array.of(0x2d));
          break;
        case 'packet': {
          if (!this.noAck) this.send(Uint8Array.of(0x2b));
          const reply = this.handle(ev.data);
          if (reply !== null) this.reply(reply);
          break;
        }
        default:
          break;
      }
    }
  }

  /** The connection went away: let the VM run on without gdb's breakpoints. */
  disconnected(): void {
    if (this.closed) return;
    this.closed = true;
    this.target.onStop = () => undefined;
    this.target.detach();
  }

  private reply(payload: string | Uint8Array): void {
    this.send(encodePacket(payload));
  }

  private stopped(e: StopEvent & StopNote): void {
    this.lastStop = e;
    if (e.kind !== 'exited' && 'thread' in e) this.gThread = e.thread;
    if (!this.running) return;
    this.running = false;
    // Console output is allowed while the target runs, that is before its stop reply.
    if (e.note !== undefined) this.reply(`O${toHex(Buffer.from(`${e.note}\n`))}`);
    this.reply(stopReply(e));
  }

  /** One packet; returns the reply payload, or null when the reply comes later (a resume). */
  private handle(raw: Uint8Array): string | Uint8Array | null {
    const text = Buffer.from(raw).toString('latin1');
    const cmd = text[0] ?? '';
    switch (cmd) {
      case '?':
        return stopReply(this.lastStop);
      case 'q':
      case 'Q':
        return this.query(text);
      case 'H': {
        const t = parseThread(text.slice(2));
        if (t === null) return 'E01';
        if (t > 0) {
          if (t > this.target.threadCount) return 'E02';
          if (text[1] === 'g') this.gThread = t;
        }
        return 'OK';
      }
      case 'T': {
        const t = parseThread(text.slice(1));
        return t !== null && t >= 1 && t <= this.target.threadCount ? 'OK' : 'E01';
      }
      case 'g':
        return this.readAllRegisters();
      case 'G':
        return this.writeAllRegisters(text.slice(1));
      case 'p': {
        const n = parseHexNumber(text.slice(1));
        if (n === null || n >= BigInt(GDB_REGISTERS.length)) return 'E01';
        const v = this.target.readRegister(this.gThread, Number(n));
        return v === null ? 'x'.repeat(GDB_REGISTERS[Number(n)]!.bits / 4) : toHex(v);
      }
      case 'P': {
        const [num, val] = text.slice(1).split('=');
        const n = parseHexNumber(num ?? '');
        const bytes = fromHex(val ?? '');
        if (n === null || bytes === null || n >= BigInt(GDB_REGISTERS.length)) return 'E01';
        if (bytes.length !== GDB_REGISTERS[Number(n)]!.bits / 8) return 'E01';
        return this.target.writeRegister(this.gThread, Number(n), bytes) ? 'OK' : 'E01';
      }
      case 'm': {
        const [a, l] = text.slice(1).split(',');
        const addr = parseHexNumber(a ?? '');
        const len = parseHexNumber(l ?? '');
        if (addr === null || len === null) return 'E01';
        const data = this.target.readMemory(this.gThread, addr, Math.min(Number(len), MAX_READ), this.physical);
        return data.length === 0 && len > 0n ? 'E14' : toHex(data);
      }
      case 'M': {
        const m = /^M([0-9a-fA-F]+),([0-9a-fA-F]+):([0-9a-fA-F]*)$/.exec(text);
        const data = m !== null ? fromHex(m[3]!) : null;
        if (m === null || data === null || data.length !== Number(parseHexNumber(m[2]!))) return 'E01';
        return this.target.writeMemory(this.gThread, parseHexNumber(m[1]!)!, data, this.physical) ? 'OK' : 'E14';
      }
      case 'X': {
        const colon = raw.indexOf(0x3a);
        const head = /^X([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(Buffer.from(raw.subarray(0, colon < 0 ? raw.length : colon)).toString('latin1'));
        if (head === null || colon < 0) return 'E01';
        const data = unescapeBinary(raw.subarray(colon + 1));
        if (data.length !== Number(parseHexNumber(head[2]!))) return 'E01';
        if (data.length === 0) return 'OK'; // gdb probes X support with an empty write
        return this.target.writeMemory(this.gThread, parseHexNumber(head[1]!)!, data, this.physical) ? 'OK' : 'E14';
      }
      case 'Z':
      case 'z': {
        const m = /^[Zz]([0-4]),([0-9a-fA-F]+),([0-9a-fA-F]+)/.exec(text);
        if (m === null) return '';
        const ok = this.target.setBreakpoint(Number(m[1]) as ZType, parseHexNumber(m[2]!)!, Number(parseHexNumber(m[3]!)), cmd === 'Z');
        return ok ? 'OK' : 'E01';
      }
      case 'c':
        if (text.length > 1) return 'E01'; // resuming at another address is not supported
        return this.resume(null);
      case 's':
        if (text.length > 1) return 'E01';
        return this.resume(this.gThread);
      case 'b':
        return this.reverse(text);
      case 'v':
        return this.vPacket(text);
      case 'D':
        this.reply('OK');
        this.disconnected();
        this.onEnd();
        return null;
      case 'k':
        this.closed = true;
        this.target.kill();
        this.onEnd();
        return null;
      default:
        return '';
    }
  }

  private resume(step: number | null): null {
    this.running = true;
    this.target.resume(step);
    return null;
  }

  /** `bs` (one instruction back) and `bc` (back to the last breakpoint/watchpoint hit). */
  private reverse(text: string): string | null {
    if (text !== 'bs' && text !== 'bc') return '';
    const why = this.target.reverse === undefined ? 'reverse execution needs --accel emu --deterministic' : this.target.reverseRefusal;
    if (why !== null && why !== undefined) {
      // gdb prints console output that precedes the reply, then the error.
      this.reply(`O${toHex(Buffer.from(`tsvmm: ${why}\n`))}`);
      return 'E.' + why;
    }
    this.running = true;
    this.target.reverse!(text === 'bs' ? this.gThread : null);
    return null;
  }

  private vPacket(text: string): string | null {
    if (text === 'vCont?') return 'vCont;c;C;s;S';
    if (text.startsWith('vCont;')) {
      // Actions apply to the first thread they name; a signal to deliver (C/S) is ignored: the
      // guest gets no signals, only the VM's own events.
      let step: number | null = null;
      for (const action of text.slice(6).split(';')) {
        const [a, th] = action.split(':');
        if (a === undefined || !/^[cCsS]/.test(a)) return 'E01';
        if (a[0] === 's' || a[0] === 'S') {
          const t = th === undefined ? this.gThread : parseThread(th);
          if (t === null) return 'E01';
          if (step === null) step = t > 0 ? t : this.gThread;
        }
      }
      return this.resume(step);
    }
    if (text.startsWith('vKill')) {
      this.reply('OK');
      this.closed = true;
      this.target.kill();
      this.onEnd();
      return null;
    }
    if (text === 'vMustReplyEmpty') return '';
    return '';
  }

  private query(text: string): string {
    if (text.startsWith('qSupported')) {
      // Reverse execution only where it works (emu with --deterministic): gdb then offers reverse-stepi etc.
      const reverse = this.target.reverse !== undefined && this.target.reverseRefusal === null ? ';ReverseStep+;ReverseContinue+' : '';
      return `PacketSize=${(MAX_READ * 2 + 64).toString(16)};qXfer:features:read+;swbreak+;hwbreak+;vContSupported+;QStartNoAckMode+${reverse}`;
    }
    if (text === 'QStartNoAckMode') {
      this.noAck = true;
      return 'OK';
    }
    if (text.startsWith('qXfer:features:read:')) {
      const m = /^qXfer:features:read:([^:]+):([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(text);
      if (m === null) return 'E00';
      if (m[1] !== 'target.xml') return 'E00';
      this.xml ??= targetXml();
      const off = Number(parseHexNumber(m[2]!));
      const len = Number(parseHexNumber(m[3]!));
      const part = this.xml.slice(off, off + len);
      return (off + len >= this.xml.length ? 'l' : 'm') + part;
    }
    if (text === 'qfThreadInfo') return `m${Array.from({ length: this.target.threadCount }, (_, i) => (i + 1).toString(16)).join(',')}`;
    if (text === 'qsThreadInfo') return 'l';
    if (text === 'qC') return `QC${this.gThread.toString(16)}`;
    if (text === 'qAttached') return '1';
    if (text.startsWith('qThreadExtraInfo,')) {
      const t = parseThread(text.slice(17));
      if (t === null || t < 1 || t > this.target.threadCount) return 'E01';
      return toHex(Buffer.from(this.target.describeThread(t)));
    }
    if (text.startsWith('qRcmd,')) {
      const cmd = fromHex(text.slice(6));
      if (cmd === null) return 'E01';
      const line = Buffer.from(cmd).toString('utf8').trim();
      const out = this.monitor(line);
      if (out === null) return 'E01';
      // Output goes in O packets before the final OK (console output of gdb).
      if (out !== '') this.reply(`O${toHex(Buffer.from(out.endsWith('\n') ? out : `${out}\n`))}`);
      return 'OK';
    }
    if (text.startsWith('qSymbol')) return 'OK';
    return '';
  }

  /** The stub's own monitor commands first, then the target's. */
  private monitor(line: string): string | null {
    const [word, arg] = line.split(/\s+/);
    if (word === 'phys') {
      if (arg === 'on' || arg === 'off') this.physical = arg === 'on';
      else if (arg !== undefined) return 'usage: monitor phys [on|off]';
      return `memory accesses use ${this.physical ? 'physical' : 'virtual'} addresses`;
    }
    if (word === 'help') {
      return ['monitor phys [on|off]   m/M/X packets address guest-physical memory (on) or virtual (off)', this.target.monitor('help') ?? ''].join('\n').trimEnd();
    }
    return this.target.monitor(line);
  }

  private readAllRegisters(): string {
    let out = '';
    GDB_REGISTERS.forEach((g, i) => {
      const v = this.target.readRegister(this.gThread, i);
      out += v === null ? 'x'.repeat(g.bits / 4) : toHex(v);
    });
    return out;
  }

  private writeAllRegisters(hex: string): string {
    let off = 0;
    for (let i = 0; i < GDB_REGISTERS.length && off < hex.length; i++) {
      const n = GDB_REGISTERS[i]!.bits / 4;
      const part = hex.slice(off, off + n);
      off += n;
      if (part.includes('x')) continue;
      const bytes = fromHex(part);
      if (bytes === null || bytes.length * 2 !== n) return 'E01';
      // Registers the target cannot write keep their value (gdb writes back what it read).
      const cur = this.target.readRegister(this.gThread, i);
      if (cur !== null && toHex(cur) === part) continue;
      if (!this.target.writeRegister(this.gThread, i, bytes)) return 'E01';
    }
    return 'OK';
  }
}

/** A thread id from the wire: hex, or -1 (all) / 0 (any), as a number; null if malformed. */
function parseThread(text: string): number | null {
  if (text === '-1') return -1;
  const n = parseHexNumber(text);
  return n === null ? null : Number(n);
}

/** The stop-reply packet of an event. */
export function stopReply(e: StopEvent): string {
  switch (e.kind) {
    case 'exited':
      return `W${(e.status & 0xff).toString(16).padStart(2, '0')}`;
    case 'signal':
      return `T${e.signal.toString(16).padStart(2, '0')}thread:${e.thread.toString(16)};`;
    case 'breakpoint':
      return `T05thread:${e.thread.toString(16)};swbreak:;`;
    case 'step':
      return `T05thread:${e.thread.toString(16)};`;
    case 'history-begin':
      return `T05thread:${e.thread.toString(16)};replaylog:begin;`;
    case 'watch': {
      const key = e.watch === 'write' ? 'watch' : e.watch === 'read' ? 'rwatch' : 'awatch';
      return `T05thread:${e.thread.toString(16)};${key}:${e.address.toString(16)};`;
    }
  }
}

export { SIGINT, SIGTRAP };
