/**
 * What the gdb stub needs from a VM backend. Threads are vCPUs, numbered from 1 (gdb's thread
 * ids; 0 and -1 mean "any" and "all" on the wire and never reach the target). Registers are
 * numbered as in target-description.ts. Addresses are 64-bit (bigint): virtual addresses go
 * through the thread's current page tables without side effects; physical ones go to RAM.
 */

export type WatchKind = 'write' | 'read' | 'access';

export type StopEvent =
  /** The VM paused on request (Ctrl-C) or at attach: SIGINT/SIGTRAP as gdb expects. */
  | { readonly kind: 'signal'; readonly thread: number; readonly signal: number }
  | { readonly kind: 'breakpoint'; readonly thread: number }
  | { readonly kind: 'step'; readonly thread: number }
  | { readonly kind: 'watch'; readonly thread: number; readonly address: bigint; readonly watch: WatchKind }
  /** Reverse execution reached the start of the recorded history (gdb's `replaylog:begin`). */
  | { readonly kind: 'history-begin'; readonly thread: number }
  /** The VM ended for good (poweroff, debug-exit, triple fault...): `status` is tsvmm's exit status. */
  | { readonly kind: 'exited'; readonly status: number; readonly detail: string };

/** A stop, with a line gdb prints before it (console output, `O` packet) when there is something to say. */
export type StopNote = { readonly note?: string };

/** gdb's Z packet types. */
export const enum ZType {
  Software = 0,
  Hardware = 1,
  Write = 2,
  Read = 3,
  Access = 4,
}

export interface GdbTarget {
  /** The number of vCPUs (threads 1..threadCount). */
  readonly threadCount: number;
  /** A line about thread `t` for `info threads` (e.g. its mode and whether it is halted). */
  describeThread(t: number): string;
  /** Register `reg` of thread `t`, little-endian, bits/8 bytes; null when it cannot be read. */
  readRegister(t: number, reg: number): Uint8Array | null;
  /** Writes register `reg`; false when it cannot be written. */
  writeRegister(t: number, reg: number, value: Uint8Array): boolean;
  /** Reads up to `len` bytes: fewer when the range runs into unmapped memory, none when it starts there. */
  readMemory(t: number, addr: bigint, len: number, physical: boolean): Uint8Array;
  /** Writes `data` (all or nothing); false when some byte is not mapped RAM. */
  writeMemory(t: number, addr: bigint, data: Uint8Array, physical: boolean): boolean;
  /** Inserts or removes a breakpoint or watchpoint; false when the target cannot. */
  setBreakpoint(type: ZType, addr: bigint, len: number, insert: boolean): boolean;
  /**
   * Lets the VM run. `step` (a thread) stops after one instruction of that thread. The target
   * calls `onStop` once the VM has stopped again (or ended).
   */
  resume(step: number | null): void;
  /**
   * Why reverse execution (`bs`, `bc`) cannot work on this VM, or null when it can; a target
   * without `reverse` never can.
   */
  readonly reverseRefusal?: string | null;
  /**
   * Runs backwards: `step` (a thread) goes back one instruction, null goes back to the last
   * breakpoint or watchpoint hit before now (or to the start of the recorded history). `onStop` follows.
   */
  reverse?(step: number | null): void;
  /** Stops a running VM (Ctrl-C); `onStop` follows with SIGINT. */
  interrupt(): void;
  /** Answers `monitor CMD` (qRcmd): the text to print, or null for an unknown command. */
  monitor(cmd: string): string | null;
  /** Set by the session. */
  onStop: (e: StopEvent & StopNote) => void;
  /** A gdb connected: arm what an earlier detach() disarmed (a target that disarms nothing may omit it). */
  attach?(): void;
  /** Removes every breakpoint and watchpoint and lets the VM run (gdb detached). */
  detach(): void;
  /** Ends the VM (gdb `kill`). */
  kill(): void;
}
