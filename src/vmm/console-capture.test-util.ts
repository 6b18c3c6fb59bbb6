/** Test-only: a console sink that keeps what the guest printed. */
import type { ConsoleSink } from './serial-console.js';

export function captureConsole(): ConsoleSink & { text: () => string } {
  let out = '';
  return {
    write(bytes) {
      out += Buffer.from(bytes).toString('latin1');
    },
    close() {},
    text: () => out,
  };
}
