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
