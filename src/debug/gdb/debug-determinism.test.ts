/**
 * The gdb stub's breakpoints, steps and watchpoints on a deterministic emu VM do not change the run: the
 * project's interrupt-driven guests (LAPIC timer, PIT through the IOAPIC and the 8259, IPIs, REP string
 * instructions under a fast timer; 1 and 2 vCPUs) are run once plainly and once with the stub's breakpoints
 * at instructions the run executes (mostly inside blocks, interrupt handlers included), stepping now and
 * then and with write watchpoints on the stack, stopping and resuming at every hit. Both runs must print
 * every serial byte at the same instruction count and end with the same instruction counts, registers and
 * RAM. A stop that ended the emulator's scheduling round or a breakpoint that let an interrupt in where
 * a block was cut would show as a different count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createEmuVm, type EmuVm } from '../../cpu/emu/emu-vm.js';
import { ipLin } from '../../cpu/emu/run-loop.js';
import { getFlags } from '../../cpu/emu/lazy-flags.js';
import { loadMultiboot } from '../../boot/multiboot.js';
import type { VmStop } from '../../cpu/vm.js';
import { EmuGdbTarget } from './emu-target.js';
import { ZType, type StopEvent } from './gdb-target.js';

const buildDir = new URL('../../../../guests/build/', import.meta.url);
const MEM = 32 << 20;

interface Guest {
  readonly name: string;
  readonly cmdline: string;
  readonly cpus: number;
}

interface Outcome {
  stop: VmStop;
  /** Every byte the guest wrote to COM1 with the VM's clock then (deterministic: its instruction count, as the guest sees it). */
  serial: string[];
  cpus: string[];
  ram: Uint8Array;
}

/** The guest booted on a deterministic VM with a COM1 that records when each byte was written, and the debug-exit port. */
function boot(g: Guest): { vm: EmuVm; serial: string[] } {
  const vm = createEmuVm({ memBytes: MEM, cpus: g.cpus, deterministic: true });
  const setup = loadMultiboot(vm.memory, readFileSync(new URL(`${g.name}.elf`, buildDir)), { fileName: `${g.name}.elf`, cmdline: g.cmdline, modules: [], memBytes: MEM });
  vm.cpus[0]!.setRegisters(setup.registers);
  const serial: string[] = [];
  let lcr = 0;
  vm.pio.register(
    0x3f8,
    8,
    {
      read: (off, d) => {
        d[0] = off === 5 ? 0x60 : off === 3 ? lcr : 0;
      },
      write: (off, d) => {
        if (off === 0 && (lcr & 0x80) === 0) serial.push(`${vm.clock.nowNs()}:${d[0]!}`);
        else if (off === 3) lcr = d[0]!;
      },
    },
    'com1',
  );
  vm.pio.register(0xf4, 4, { read: (_o, d) => d.fill(0), write: (_o, d) => vm.requestStop({ kind: 'debug-exit', value: d[0]! }) }, 'debug-exit');
  return { vm, serial };
}

function outcome(vm: EmuVm, stop: VmStop, serial: string[]): Outcome {
  const cpus = vm.cpus.map((c) => `count ${c.instructions} rip ${c.rip.toString(16)} flags ${(getFlags(c) >>> 0).toString(16)} gprs ${[...c.gpr].join(',')} halted ${c.halted}`);
  return { stop, serial, cpus, ram: Uint8Array.from(vm.memory.regions[0]!.bytes) };
}

function same(a: Outcome, b: Outcome, what: string): void {
  assert.deepEqual(b.stop, a.stop, `${what}: how the run ended`);
  assert.equal(b.serial.length, a.serial.length, `${what}: serial bytes`);
  const k = b.serial.findIndex((s, i) => s !== a.serial[i]);
  assert.equal(k, -1, `${what}: serial byte ${k} (ns:byte) ${b.serial[k]} where the plain run had ${a.serial[k]}`);
  assert.deepEqual(b.cpus, a.cpus, `${what}: instruction counts and registers at the end`);
  assert.ok(Buffer.compare(Buffer.from(a.ram), Buffer.from(b.ram)) === 0, `${what}: RAM at the end`);
}

/** The plain run, and the linear RIPs and stack pointers of the vCPUs at `points` instruction counts spread over it (pauses do not change a run). */
async function reference(g: Guest, points: number): Promise<{ plain: Outcome; addrs: number[]; stacks: number[] }> {
  const a = boot(g);
  const plain = outcome(a.vm, await a.vm.run(), a.serial);
  const total = a.vm.instructionsRetired;
  const b = boot(g);
  const addrs = new Set<number>();
  const stacks = new Set<number>();
  const run = b.vm.run();
  for (let k = 1; k <= points; k++) {
    // Not evenly spaced: the points fall at all offsets inside blocks.
    const at = Math.floor((total * k) / (points + 1)) + ((k * 7919) % 97);
    if (at <= b.vm.instructionsRetired) continue;
    await b.vm.pauseAt(at);
    if (b.vm.stopped !== undefined) break;
    for (const c of b.vm.cpus) {
      if (c.waitSipi || c.halted) continue;
      addrs.add(ipLin(c));
      stacks.add(c.gpr[2 * 4]! >>> 0);
    }
    b.vm.resume();
  }
  same(plain, outcome(b.vm, await run, b.serial), `${g.name}, paused at ${points} points`);
  return { plain, addrs: [...addrs], stacks: [...stacks] };
}

/**
 * The run with gdb's breakpoints at `addrs` (each removed after `maxHits` hits, so that a loop does not stop
 * for ever) and write watchpoints on the stack below `stacks`, every third stop continued with a step.
 */
async function debugged(g: Guest, addrs: number[], stacks: number[], maxHits: number): Promise<{ result: Outcome; stops: Record<string, number> }> {
  const { vm, serial } = boot(g);
  const target = new EmuGdbTarget(vm, { kill: () => vm.requestStop({ kind: 'host-stop', reason: 'kill' }) });
  for (const a of addrs) target.setBreakpoint(ZType.Software, BigInt(a), 1, true);
  const watches = stacks.slice(0, 3).map((s) => BigInt(s - 8));
  for (const w of watches) target.setBreakpoint(ZType.Write, w, 4, true);
  const hits = new Map<string, number>();
  const stops: Record<string, number> = {};
  let n = 0;
  target.onStop = (e: StopEvent) => {
    stops[e.kind] = (stops[e.kind] ?? 0) + 1;
    n++;
    if (e.kind === 'breakpoint' || e.kind === 'watch') {
      const c = vm.cpus[e.thread - 1]!;
      const key = e.kind === 'watch' ? `w${e.address}` : `b${ipLin(c)}`;
      const h = (hits.get(key) ?? 0) + 1;
      hits.set(key, h);
      if (h >= maxHits) {
        if (e.kind === 'watch') target.setBreakpoint(ZType.Write, e.address, 4, false);
        else target.setBreakpoint(ZType.Software, BigInt(ipLin(c)), 1, false);
      }
    }
    const step = n % 3 === 0 && 'thread' in e ? e.thread : null;
    // gdb's next command comes in from the socket later, never inside the stop.
    setImmediate(() => target.resume(step));
  };
  // As gdb's first `continue` (the stub reports stops while gdb waits for one).
  target.resume(null);
  const stop = await vm.run();
  return { result: outcome(vm, stop, serial), stops };
}

const GUESTS: Guest[] = [
  { name: 'apic-timer', cmdline: '', cpus: 1 },
  { name: 'rep-irq', cmdline: '', cpus: 1 },
  { name: 'smp', cmdline: 'cpus=2', cpus: 2 },
];

for (const g of GUESTS) {
  const built = existsSync(new URL(`${g.name}.elf`, buildDir));
  test(`gdb breakpoints, steps and watchpoints leave a deterministic run as it was: ${g.name}${g.cpus > 1 ? `, ${g.cpus} vCPUs` : ''}`, { skip: built ? false : 'guest not built (node scripts/build-guests.mjs)', timeout: 300_000 }, async () => {
    const { plain, addrs, stacks } = await reference(g, 150);
    assert.ok(addrs.length >= 10, `${addrs.length} addresses to break at`);
    const { result, stops } = await debugged(g, addrs, stacks, 40);
    const total = Object.values(stops).reduce((x, y) => x + y, 0);
    same(plain, result, `${g.name} with ${addrs.length} breakpoints (${total} stops: ${JSON.stringify(stops)})`);
    assert.ok((stops['breakpoint'] ?? 0) >= 10 && (stops['step'] ?? 0) >= 5, `stops: ${JSON.stringify(stops)}`);
  });
}
