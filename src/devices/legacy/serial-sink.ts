/**
 * Where a UART's transmitted bytes go (a terminal, a file, a test buffer). The device
 * calls `write` synchronously for each transmitted byte run; `bytes` is only valid
 * during the call (the UART reuses its buffer), so a sink that keeps data must copy it.
 */
export interface SerialSink {
  write(bytes: Uint8Array): void;
}

/** A sink that drops everything (`--serial none`). */
export const NULL_SERIAL_SINK: SerialSink = { write: () => undefined };

/** A sink that keeps every byte; for tests and for capturing guest output. */
export class BufferSerialSink implements SerialSink {
  private chunks: number[] = [];
  write(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) this.chunks.push(bytes[i]!);
  }
  get bytes(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
  /** The output decoded as Latin-1 (one char per byte), convenient for assertions. */
  text(): string {
    let s = '';
    for (let i = 0; i < this.chunks.length; i += 8192) s += String.fromCharCode(...this.chunks.slice(i, i + 8192));
    return s;
  }
  clear(): void {
    this.chunks = [];
  }
}

/**
 * Coalesces the UART's byte-at-a-time writes into larger writes to `out` (a terminal
 * or file costs a system call per write). Flushes at each newline, when `maxBytes`
 * collect, in a microtask after the last write (prompts without a newline), and on
 * `flush()` — call that before the process exits, since a synchronous vCPU loop may
 * not let microtasks run.
 */
export class BatchingSerialSink implements SerialSink {
  private buf: Uint8Array;
  private len = 0;
  private scheduled = false;

  constructor(
    private readonly out: (bytes: Uint8Array) => void,
    private readonly maxBytes = 4096,
  ) {
    if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new RangeError(`batch size ${maxBytes} must be a positive integer`);
    this.buf = new Uint8Array(maxBytes);
  }

  write(bytes: Uint8Array): void {
    let newline = false;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      this.buf[this.len++] = b;
      if (b === 0x0a) newline = true;
      if (this.len === this.maxBytes) this.flush();
    }
    if (newline) this.flush();
    else if (this.len > 0 && !this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  /** Hands everything collected so far to `out` (a copy: `out` may keep it). */
  flush(): void {
    if (this.len === 0) return;
    const chunk = this.buf.slice(0, this.len);
    this.len = 0;
    this.out(chunk);
  }
}
