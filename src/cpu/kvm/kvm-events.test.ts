/**
 * KVM's event channels on a real /dev/kvm: a guest's writes to an I/O event's address do not leave KVM_RUN
 * (KVM_IOEVENTFD) and still ring the device; with eventChannels 'in-process' each write is an MMIO exit that
 * rings it; an interrupt event (KVM_IRQFD) wakes a halted guest; the vCPU that rang a doorbell goes on while
 * the device's handler runs (on the main thread, vCPUs on their own threads). Skipped without /dev/kvm.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REG, segmentBatch, type RegisterBatch } from '../registers.js';
import { createKvmVm, type KvmVmOptions } from './kvm-vm.js';
import { kvmMissing } from './host-requirements.test-util.js';

const skip = kvmMissing();
const ENTRY = 0x10_0000;
const NOTIFY = 0xd000_0000;
const WRITES = 50;

function flat32(entry: number): RegisterBatch {
  const code = { selector: 0x10, base: 0n, limit: 0xffff_ffff, attrs: 0xc09b };
  const data = { selector: 0x18, base: 0n, limit: 0xffff_ffff, attrs: 0xc093 };
  return [...segmentBatch('cs', code), ...(['ds', 'es', 'ss', 'fs', 'gs'] as const).flatMap((s) => segmentBatch(s, data)), [REG.cr0, 0x11n], [REG.rip, BigInt(entry)], [REG.rflags, 2n], [REG.rsp, 0x8000n]];
}

// mov ecx, WRITES; 1: mov [NOTIFY], ax; dec ecx; jnz 1b; cli; hlt
// prettier-ignore
const NOTIFY_LOOP = [
  0xb9, WRITES, 0, 0, 0,
  0x66, 0xa3, 0x00, 0x00, 0x00, 0xd0,
  0x49,
  0x75, 0xf7,
  0xfa, 0xf4,
];

async function notifyRun(opts: Partial<KvmVmOptions>): Promise<{ inKernel: boolean; rings: number; mmioExits: number }> {
  const vm = createKvmVm({ memBytes: 16 << 20, cpus: 1, ...opts });
  try {
    let rings = 0;
    const h = vm.events.ioEvent({ space: 'mmio', address: NOTIFY, size: 2 }, { signal: () => rings++ });
    vm.memory.write(ENTRY, Uint8Array.from(NOTIFY_LOOP));
    vm.vcpus[0]!.setRegisters(flat32(ENTRY));
    assert.equal((await vm.run()).kind, 'hang');
    // The watcher thread hands signalled eventfds to the run loop; the guest may have halted first.
    for (let t0 = Date.now(); rings === 0 && Date.now() - t0 < 5000; await new Promise((r) => setTimeout(r, 10))) if (vm.events.pending) vm.events.dispatch();
    const inKernel = h.inKernel;
    h.close();
    return { inKernel, rings, mmioExits: vm.exitCounts()['mmio'] ?? 0 };
  } finally {
    vm.destroy();
  }
}

test('KVM_IOEVENTFD: the guest writes a doorbell without leaving KVM_RUN, and the device is rung', { skip }, async () => {
  const r = await notifyRun({});
  assert.equal(r.inKernel, true);
  assert.equal(r.mmioExits, 0, 'no MMIO exit for the doorbell writes');
  // An eventfd counts the writes up; the device is rung at least once (each signal it sees).
  assert.ok(r.rings >= 1 && r.rings <= WRITES, `rung ${r.rings} times`);
});

test("eventChannels 'in-process': each doorbell write is an MMIO exit that rings the device", { skip }, async () => {
  const r = await notifyRun({ eventChannels: 'in-process' });
  assert.equal(r.inKernel, false);
  assert.equal(r.mmioExits, WRITES);
  assert.equal(r.rings, WRITES);
});

test('KVM_IRQFD: an interrupt event triggered from the event loop wakes a guest halted with interrupts on', { skip }, async () => {
  const vm = createKvmVm({ memBytes: 16 << 20, cpus: 1 });
  try {
    const ev = vm.events.irqEvent({ kind: 'gsi', gsi: 5 });
    assert.notEqual(ev.fd, undefined, 'an eventfd bound with KVM_IRQFD');
    const seen: number[] = [];
    vm.pio.register(0xe9, 1, { read: (_o, d) => d.fill(0), write: (_o, d) => { seen.push(d[0]!); if (d[0] === 0x52) setTimeout(() => ev.trigger(), 20); } }, 'e9');
    // GDT at 0x500, IDT at 0x600 with vector 0x25 -> handler; PIC remapped to 0x20, IRQ5 unmasked.
    vm.memory.writeU64(0x510, 0x00cf_9a00_0000_ffffn);
    vm.memory.writeU64(0x518, 0x00cf_9200_0000_ffffn);
    const handler = ENTRY + 0x40;
    vm.memory.writeU64(0x600 + 0x25 * 8, (BigInt(handler >>> 16) << 48n) | (0x8en << 40n) | (0x10n << 16n) | BigInt(handler & 0xffff));
    // prettier-ignore
    vm.memory.write(ENTRY, Uint8Array.from([
      0xb0, 0x11, 0xe6, 0x20, 0xb0, 0x20, 0xe6, 0x21, 0xb0, 0x04, 0xe6, 0x21, 0xb0, 0x01, 0xe6, 0x21, // ICW1-4
      0xb0, 0xdf, 0xe6, 0x21, // unmask IRQ5
      0xb0, 0x52, 0xe6, 0xe9, // 'R'
      0xfb, 0xf4, 0xeb, 0xfd, // sti; hlt; jmp back
    ]));
    vm.memory.write(handler, Uint8Array.from([0xb0, 0x49, 0xe6, 0xe9, 0xb0, 0x20, 0xe6, 0x20, 0xfa, 0xf4])); // 'I', EOI, cli; hlt
    vm.vcpus[0]!.setRegisters([...flat32(ENTRY), [REG.gdtrBase, 0x500n], [REG.gdtrLimit, 0x1fn], [REG.idtrBase, 0x600n], [REG.idtrLimit, 0x7ffn]]);
    assert.equal((await vm.run()).kind, 'hang');
    assert.deepEqual(seen, [0x52, 0x49]);
    ev.close();
  } finally {
    vm.destroy();
  }
});

// mov [NOTIFY], ax; 1: inc dword [COUNTER]; jmp 1b (the guest's work after the doorbell, with no exits)
const COUNTER = 0x2000;
// prettier-ignore
const RING_THEN_COUNT = [
  0x66, 0xa3, 0x00, 0x00, 0x00, 0xd0,
  0xff, 0x05, COUNTER & 0xff, COUNTER >>> 8, 0, 0,
  0xeb, 0xf8,
];

for (const channels of ['kernel', 'in-process'] as const) {
  test(`a doorbell does not stop the vCPU that rang it: the guest counts on while the device's handler is blocked (${channels === 'kernel' ? 'KVM_IOEVENTFD' : 'an MMIO exit'})`, { skip }, async () => {
    const vm = createKvmVm({ memBytes: 16 << 20, cpus: 1, eventChannels: channels });
    try {
      const counter = (): number => vm.memory.readU32(COUNTER);
      let during = -1;
      let rung = 0;
      // A device whose work takes long and blocks the main thread (as synchronous I/O would): it waits, without
      // yielding, until the guest counter has moved on by 10,000 or 10 s have passed. With the vCPU on the main
      // thread (the earlier design) the guest could not run meanwhile and the counter stayed put.
      const h = vm.events.ioEvent({ space: 'mmio', address: NOTIFY, size: 2 }, {
        signal: () => {
          rung++;
          const start = counter();
          const t0 = Date.now();
          while (counter() - start < 10_000 && Date.now() - t0 < 10_000);
          during = counter() - start;
          vm.requestStop({ kind: 'host-stop', reason: 'device done' });
        },
      });
      assert.equal(h.inKernel, channels === 'kernel');
      vm.memory.write(ENTRY, Uint8Array.from(RING_THEN_COUNT));
      vm.vcpus[0]!.setRegisters(flat32(ENTRY));
      assert.deepEqual(await vm.run(), { kind: 'host-stop', reason: 'device done' });
      assert.equal(rung, 1);
      assert.ok(during >= 10_000, `the guest counted ${during} while the device's handler ran`);
      h.close();
    } finally {
      vm.destroy();
    }
  });
}
