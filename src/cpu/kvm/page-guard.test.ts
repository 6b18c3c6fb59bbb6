import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REG, segmentBatch } from '../registers.js';
import { kvmMissing } from './host-requirements.test-util.js';
import { KvmError } from './kvm-error.js';
import { createKvmVm } from './kvm-vm.js';
import { GUARD_PAGE, guardPieces } from './page-guard.js';

const ENTRY = 0x10_0000;
const le32 = (x: number): number[] => [x & 255, (x >>> 8) & 255, (x >>> 16) & 255, x >>> 24];

test('guardPieces: the region around its guarded pages, pages elsewhere ignored', () => {
  assert.deepEqual(guardPieces(0x10_0000, 0x10_0000, [0x10_1000]), [
    { gpa: 0x10_0000, size: 0x1000, offset: 0 },
    { gpa: 0x10_2000, size: 0xfe000, offset: 0x2000 },
  ]);
  assert.deepEqual(guardPieces(0, 0x4000, [0, 0x3000, 0x1000, 0x9000, 0x1000]), [{ gpa: 0x2000, size: 0x1000, offset: 0x2000 }], 'first, last, repeated and outside');
  assert.deepEqual(guardPieces(0, 0x1000, [0]), [], 'the whole region');
  assert.deepEqual(guardPieces(0, 0x2000, []), [{ gpa: 0, size: 0x2000, offset: 0 }]);
});

test('a guarded page on kvm: reads and writes come to guardAccess, a fetch is an emulation failure the VM survives', { skip: kvmMissing() }, async () => {
  const vm = createKvmVm({ memBytes: 4 << 20, cpus: 1 });
  try {
    const G = 0x20_0000;
    // 32-bit flat, paging off: mov eax,[G]; mov [G+8],eax; jmp G+0x100 | at G+0x100: mov al,'X'; out 0xe9,al; cli; hlt
    const jmp = G + 0x100 - (ENTRY + 15);
    vm.memory.write(ENTRY, Uint8Array.of(0xa1, ...le32(G), 0xa3, ...le32(G + 8), 0xe9, ...le32(jmp)));
    vm.memory.write(G, Uint8Array.of(0x78, 0x56, 0x34, 0x12));
    vm.memory.write(G + 0x100, Uint8Array.of(0xb0, 0x58, 0xe6, 0xe9, 0xfa, 0xf4));
    const out: number[] = [];
    vm.pio.register(0xe9, 1, { read: () => undefined, write: (_o: number, d: Uint8Array) => void out.push(d[0]!) }, 'e9');
    const accesses: string[] = [];
    const ram = vm.memory.find(G)!;
    vm.guardAccess = (_i, addr, data, write) => {
      if (addr < G || addr >= G + GUARD_PAGE) return false;
      accesses.push(`${write ? 'write' : 'read'} 0x${addr.toString(16)} ${data.length}`);
      if (write) ram.bytes.set(data, addr - ram.gpa);
      else data.set(ram.bytes.subarray(addr - ram.gpa, addr - ram.gpa + data.length));
      return true;
    };
    const failures: bigint[] = [];
    vm.emulationFailure = (_i, rip) => {
      failures.push(rip);
      void vm.pause().then(() => {
        vm.guardPages([]);
        vm.resume();
      });
      return true;
    };
    assert.throws(() => vm.guardPages([0xfee0_0000]), KvmError, 'not RAM');
    vm.guardPages([G]);
    const code = { selector: 0x10, base: 0n, limit: 0xffff_ffff, attrs: 0xc09b };
    const data = { selector: 0x18, base: 0n, limit: 0xffff_ffff, attrs: 0xc093 };
    vm.vcpus[0]!.setRegisters([...segmentBatch('cs', code), ...(['ds', 'es', 'ss', 'fs', 'gs'] as const).flatMap((s) => segmentBatch(s, data)), [REG.cr0, 0x11n], [REG.rip, BigInt(ENTRY)], [REG.rflags, 2n]]);
    const stop = await vm.run();
    assert.deepEqual(accesses, [`read 0x${G.toString(16)} 4`, `write 0x${(G + 8).toString(16)} 4`]);
    assert.equal(vm.memory.readU32(G + 8), 0x1234_5678, 'the write landed in RAM');
    assert.deepEqual(failures, [BigInt(G + 0x100)], 'the fetch from the guarded page');
    assert.deepEqual(out, [0x58], 'run again from the same instruction once unguarded');
    assert.equal(stop.kind, 'hang');
  } finally {
    vm.destroy();
  }
});
