import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REG, segmentBatch } from '../../cpu/registers.js';
import { kvmMissing } from '../../cpu/kvm/host-requirements.test-util.js';
import { createKvmVm } from '../../cpu/kvm/kvm-vm.js';
import { KvmGdbTarget } from './kvm-target.js';
import { ZType, type StopEvent, type StopNote } from './gdb-target.js';

const ENTRY = 0x10_0000;
const G = 0x20_0000;
const le32 = (x: number): number[] => [x & 255, (x >>> 8) & 255, (x >>> 16) & 255, x >>> 24];
// Where KVM's data breakpoints do not fire (kvm_pvm); the facilities are given, so this runs on any KVM.
const NO_DATA_BREAKPOINTS = { singleStep: true, hwBreak: true, hwWatch: false, swBreak: false, blockIrq: false, notes: [] };

test('kvm target, guarded read watchpoint: a read of it stops after the instruction; code on its page removes it, refused after', { skip: kvmMissing() }, async () => {
  const vm = createKvmVm({ memBytes: 4 << 20, cpus: 1 });
  try {
    // 32-bit flat, paging off: mov eax,[G]; jmp G+0x100 | at G+0x100: mov al,'X'; out 0xe9,al; cli; hlt
    vm.memory.write(ENTRY, Uint8Array.of(0xa1, ...le32(G), 0xe9, ...le32(G + 0x100 - (ENTRY + 10))));
    vm.memory.write(G + 0x100, Uint8Array.of(0xb0, 0x58, 0xe6, 0xe9, 0xfa, 0xf4));
    const out: number[] = [];
    vm.pio.register(0xe9, 1, { read: () => undefined, write: (_o: number, d: Uint8Array) => void out.push(d[0]!) }, 'e9');
    const code = { selector: 0x10, base: 0n, limit: 0xffff_ffff, attrs: 0xc09b };
    const data = { selector: 0x18, base: 0n, limit: 0xffff_ffff, attrs: 0xc093 };
    vm.vcpus[0]!.setRegisters([...segmentBatch('cs', code), ...(['ds', 'es', 'ss', 'fs', 'gs'] as const).flatMap((s) => segmentBatch(s, data)), [REG.cr0, 0x11n], [REG.rip, BigInt(ENTRY)], [REG.rflags, 2n]]);
    const target = new KvmGdbTarget(vm, NO_DATA_BREAKPOINTS, { kill: () => undefined });
    const stops: (StopEvent & StopNote)[] = [];
    let next: (() => void) | undefined;
    target.onStop = (e) => {
      stops.push(e);
      next?.();
    };
    const stopped = (): Promise<void> => new Promise((r) => (next = r));
    const done = vm.run();
    await vm.pause();
    // As gdb does: insert at each resume, remove at each stop.
    assert.equal(target.setBreakpoint(ZType.Read, BigInt(G), 4, true), true);
    let s = stopped();
    target.resume(null);
    await s;
    assert.deepEqual(stops[0], { kind: 'watch', thread: 1, address: BigInt(G), watch: 'read' });
    assert.equal(vm.vcpus[0]!.rip(), BigInt(ENTRY + 5), 'after the reading instruction');
    target.setBreakpoint(ZType.Read, BigInt(G), 4, false);
    assert.equal(target.setBreakpoint(ZType.Read, BigInt(G), 4, true), true);
    s = stopped();
    target.resume(null);
    await s;
    assert.equal(stops[1]!.kind, 'signal');
    assert.match(stops[1]!.note ?? '', /vCPU 0 executes code at 0x200100 on the page of the read watchpoint at 0x200000: KVM cannot run code from a guarded page/);
    assert.deepEqual(out, [], 'stopped before the instruction on the page ran');
    target.setBreakpoint(ZType.Read, BigInt(G), 4, false);
    assert.equal(target.setBreakpoint(ZType.Read, BigInt(G), 4, true), false, 'refused from then on');
    assert.match(target.monitor('info') ?? '', /executes code at 0x200100/);
    target.resume(null);
    const stop = await done;
    assert.deepEqual(out, [0x58], 'the instruction ran again, unguarded');
    assert.equal(stop.kind, 'hang');
  } finally {
    vm.destroy();
  }
});
