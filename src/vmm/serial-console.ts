import { openSync, writeSync, closeSync } from 'node:fs';
import type { SerialSpec } from './config.js';

/** Byte sink for the guest's serial output (matches the UART's SerialSink shape). */
export interface ConsoleSink {
  write(bytes: Uint8Array): void;
  close(): void;
}

export function openSerialSink(spec: SerialSpec): ConsoleSink {
  switch (spec.kind) {
    case 'none':
      return { write() {}, close() {} };
    case 'stdio':
      return {
        write(bytes) {
          writeAll(1, bytes);
        },
        close() {},
      };
    case 'file': {
      let fd: number;
      try {
        fd = openSync(spec.path, 'w');
      } catch (e) {
        throw new RangeError(`--serial file:${spec.path}: cannot open for writing (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      return {
        write(bytes) {
          writeAll(fd, bytes);
        },
        close() {
          closeSync(fd);
        },
      };
    }
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) {
    try {
      off += writeSync(fd, bytes, off, bytes.length - off);
    } catch (e) {
      // A non-blocking stdout (pipe) may be full: retry; any other error drops the output.
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return;
    }
  }
}

/** Ctrl-A, as in QEMU: Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A i shows the machine's state, Ctrl-A h prints help. */
export const ESCAPE_BYTE = 0x01;

export interface StdinFeed {
  stop(): void;
}

/**
 * Feeds host stdin to the guest's UART. On a terminal it switches to raw mode so every
 * key reaches the guest, and intercepts the escape sequence; on a pipe it passes bytes
 * through untouched (end of input just stops feeding).
 */
export function feedStdin(receive: (bytes: Uint8Array) => void, onQuit: () => void, notice: (msg: string) => void, describe?: () => string): StdinFeed {
  const stdin = process.stdin;
  const tty = stdin.isTTY === true;
  let escaped = false;
  if (tty) stdin.setRawMode(true);
  const onData = (chunk: Buffer): void => {
    if (!tty) {
      receive(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
      return;
    }
    const out: number[] = [];
    for (const b of chunk) {
      if (escaped) {
        escaped = false;
        if (b === 0x78 /* x */ || b === 0x58) {
          if (out.length) receive(Uint8Array.from(out));
          onQuit();
          return;
        }
        if (b === ESCAPE_BYTE) out.push(b);
        else if (b === 0x69 /* i */ && describe !== undefined) notice(describe().replace(/\n/g, '\r\n'));
        else if (b === 0x68 /* h */) notice(`Ctrl-A x: quit   Ctrl-A Ctrl-A: send Ctrl-A   ${describe !== undefined ? 'Ctrl-A i: machine state   ' : ''}Ctrl-A h: this help`);
        continue;
      }
      if (b === ESCAPE_BYTE) escaped = true;
      else out.push(b);
    }
    if (out.length) receive(Uint8Array.from(out));
  };
  stdin.on('data', onData);
  stdin.resume();
  return {
    stop() {
      stdin.off('data', onData);
      if (tty) stdin.setRawMode(false);
      stdin.pause();
    },
  };
}
