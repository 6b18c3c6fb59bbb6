import type { BusDevice } from '../../cpu/bus.js';
import type { VmControl } from '../../cpu/vm.js';

/** QEMU's isa-debug-exit default port and width. */
export const DEBUG_EXIT_PORT = 0xf4;
export const DEBUG_EXIT_DEFAULT_SIZE = 1;

/**
 * QEMU-compatible isa-debug-exit: any write of value v stops the VM with
 * `{ kind: 'debug-exit', value: v }`; the CLI then exits with status (v << 1) | 1, so a
 * guest can report pass/fail and no exit status of a debug exit is ever 0.
 * Register it with a length of 1, 2 or 4 (QEMU's iosize); the value is the
 * little-endian access data, whatever the offset. Reads return all-ones.
 */
export class DebugExit implements BusDevice {
  constructor(private readonly vm: VmControl) {}

  read(_offset: number, data: Uint8Array): void {
    data.fill(0xff);
  }

  write(_offset: number, data: Uint8Array): void {
    let value = 0;
    for (let i = Math.min(data.length, 4) - 1; i >= 0; i--) value = value * 256 + data[i]!;
    this.vm.requestStop({ kind: 'debug-exit', value });
  }
}
