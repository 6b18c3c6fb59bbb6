import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../bus.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { EmuCpu } from './cpu.js';

export function makeCpu(memBytes = 4 << 20): { cpu: EmuCpu; mem: GuestMemory; pio: Bus; mmio: Bus; out: number[] } {
  const bytes = new Uint8Array(memBytes);
  const mem = new GuestMemory([{ name: 'ram', gpa: 0, size: memBytes, bytes }]);
  const pio = new Bus('pio');
  const mmio = new Bus('mmio');
  const out: number[] = [];
  pio.register(0x3f8, 1, { read: (_o, d) => d.fill(0), write: (_o, d) => void out.push(d[0]!) }, 'uart');
  const cpu = new EmuCpu({ memory: mem, pio, mmio });
  return { cpu, mem, pio, mmio, out };
}

function load(mem: GuestMemory, gpa: number, hex: string): void {
  mem.write(gpa, Uint8Array.from(hex.replace(/\s+/g, '').match(/../g)!.map((h) => parseInt(h, 16))));
}

test('32-bit flat: mov/add/out/hlt', () => {
  const { cpu, mem, out } = makeCpu();
  // mov eax,5; add eax,3; mov dx,0x3f8; out dx,al; hlt
  load(mem, 0x1000, 'b8 05000000 83c003 66baf803 ee f4');
  cpu.setFlat32();
  cpu.rip = 0x1000;
  assert.equal(cpu.runUntilHalt(100), 'hlt');
  assert.equal(cpu.getGpr(0), 8n);
  assert.deepEqual(out, [8]);
  assert.equal(cpu.instructions, 5);
});
