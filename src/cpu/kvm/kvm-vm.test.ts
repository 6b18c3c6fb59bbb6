import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BusDevice } from '../bus.js';
import { REG, segmentBatch, msrReg, MSR, type RegisterBatch } from '../registers.js';
import { createKvmVm, setKvmPmuEventFilter, type KvmVm } from './kvm-vm.js';
import { KvmError } from './kvm-error.js';
import { kvmMissing } from './host-requirements.test-util.js';

const skip = kvmMissing();
const MB = 1 << 20;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ENTRY = 0x10_0000;

/** 32-bit flat protected mode, paging off: what a multiboot loader hands over. */
function flat32(entry: number): RegisterBatch {
  const code = { selector: 0x10, base: 0n, limit: 0xffff_ffff, attrs: 0xc09b };
  const data = { selector: 0x18, base: 0n, limit: 0xffff_ffff, attrs: 0xc093 };
  return [
    ...segmentBatch('cs', code),
    ...(['ds', 'es', 'ss', 'fs', 'gs'] as const).flatMap((s) => segmentBatch(s, data)),
    [REG.cr0, 0x11n],
    [REG.rip, BigInt(entry)],
    [REG.rflags, 2n],
    [REG.rsp, 0x8000n],
    [REG.rax, 0x2bad_b002n],
  ];
}

class Recorder implements BusDevice {
  readonly writes: [number, number[]][] = [];
  readValue = 0x77;
  onWrite?: (offset: number, data: Uint8Array) => void;
  read(_offset: number, data: Uint8Array): void {
    data.fill(this.readValue);
  }
  write(offset: number, data: Uint8Array): void {
    this.writes.push([offset, [...data]]);
    this.onWrite?.(offset, data);
  }
}

function withVm(cpus: number, fn: (vm: KvmVm) => Promise<void>): () => Promise<void> {
  return async () => {
    const vm = createKvmVm({ memBytes: 16 * MB, cpus });
    try {
      await fn(vm);
    } finally {
      vm.destroy();
    }
  };
}

test('port writes of a 32-bit guest reach a BusDevice, reads come back, cli;hlt stops the VM as a hang', { skip }, withVm(1, async (vm) => {
  const dev = new Recorder();
  vm.pio.register(0x80, 8, dev, 'recorder');
  // prettier-ignore
  vm.memory.write(ENTRY, new Uint8Array([
    0xb0, 0x5a,                         // mov al, 0x5a
    0xe6, 0x80,                         // out 0x80, al
    0x66, 0xb8, 0x34, 0x12,             // mov ax, 0x1234
    0x66, 0xe7, 0x82,                   // out 0x82, ax
    0xb8, 0xef, 0xbe, 0xad, 0xde,       // mov eax, 0xdeadbeef
    0xe7, 0x84,                         // out 0x84, eax
    0xe4, 0x86,                         // in al, 0x86
    0xa2, 0x00, 0x50, 0x00, 0x00,       // mov [0x5000], al
    0xbe, 0x00, 0x20, 0x00, 0x00,       // mov esi, 0x2000
    0xb9, 0x03, 0x00, 0x00, 0x00,       // mov ecx, 3
    0x66, 0xba, 0x87, 0x00,             // mov dx, 0x87
    0xf3, 0x6e,                         // rep outsb
    0xfa, 0xf4,                         // cli; hlt
  ]));
  vm.memory.write(0x2000, new TextEncoder().encode('abc'));
  vm.vcpus[0]!.setRegisters(flat32(ENTRY));
  const stop = await vm.run();
  assert.deepEqual(dev.writes, [
    [0, [0x5a]],
    [2, [0x34, 0x12]],
    [4, [0xef, 0xbe, 0xad, 0xde]],
    [7, [0x61]],
    [7, [0x62]],
    [7, [0x63]],
  ]);
  assert.equal(vm.memory.view(0x5000, 1)[0], 0x77);
  assert.equal(stop.kind, 'hang');
  assert.ok((vm.exitCounts().io ?? 0) >= 7);
  const [rax, rsi, rip] = vm.vcpus[0]!.getRegisters([REG.rax, REG.rsi, REG.rip]);
  assert.equal(rax, 0xdead_be77n); // low byte replaced by the `in`
  assert.equal(rsi, 0x2003n);
  assert.equal(rip, BigInt(ENTRY + 43)); // just past the hlt
}));

test('real-mode guest: out reaches the device', { skip }, withVm(1, async (vm) => {
  const dev = new Recorder();
  vm.pio.register(0xe9, 1, dev, 'e9');
  vm.memory.write(0x7c00, new Uint8Array([0xb0, 0x52, 0xe6, 0xe9, 0xfa, 0xf4])); // mov al,'R'; out 0xe9,al; cli; hlt
  vm.vcpus[0]!.setRegisters([...segmentBatch('cs', { selector: 0x7c0, base: 0x7c00n, limit: 0xffff, attrs: 0x9b }), [REG.rip, 0n]]);
  const stop = await vm.run();
  assert.deepEqual(dev.writes, [[0, [0x52]]]);
  assert.equal(stop.kind, 'hang');
}));

test('a guest that faults with no IDT stops with shutdown or internal-error and details, not a hang', { skip }, withVm(1, async (vm) => {
  vm.memory.write(ENTRY, new Uint8Array([0x0f, 0x0b])); // ud2 with IDTR limit 0 -> #UD -> #DF -> triple fault
  vm.vcpus[0]!.setRegisters([...flat32(ENTRY), [REG.idtrBase, 0n], [REG.idtrLimit, 0n]]);
  const stop = await vm.run();
  assert.ok(stop.kind === 'shutdown' || stop.kind === 'internal-error', `stop was ${JSON.stringify(stop)}`);
  assert.ok('detail' in stop && stop.detail.includes('vCPU 0'), JSON.stringify(stop));
}));

test('an instruction the host cannot emulate stops with internal-error naming its bytes', { skip }, withVm(1, async (vm) => {
  // xrstor [eax] (0f ae 28): on a kvm_pvm host ring-0 xrstor fails emulation; with hardware VMX/SVM
  // and no XSAVE area set up it raises #GP -> no IDT -> triple fault. Either way: a stop with details.
  vm.memory.write(ENTRY, new Uint8Array([0x0f, 0xae, 0x28]));
  vm.vcpus[0]!.setRegisters([...flat32(ENTRY), [REG.idtrLimit, 0n]]);
  const stop = await vm.run();
  if (stop.kind === 'internal-error') assert.match(stop.detail, /suberror 1 \(instruction emulation failed\); instruction bytes 0f ae 28/);
  else assert.equal(stop.kind, 'shutdown');
}));

test('MMIO outside RAM reaches the mmio bus with address, size and data', { skip }, withVm(1, async (vm) => {
  const dev = new Recorder();
  dev.readValue = 0x11;
  vm.mmio.register(0xd000_0000, 0x1000, dev, 'mmio-recorder');
  // prettier-ignore
  vm.memory.write(ENTRY, new Uint8Array([
    0xc7, 0x05, 0x08, 0x00, 0x00, 0xd0, 0x44, 0x33, 0x22, 0x11, // mov dword [0xd0000008], 0x11223344
    0xa1, 0x10, 0x00, 0x00, 0xd0,                               // mov eax, [0xd0000010]
    0xa3, 0x00, 0x50, 0x00, 0x00,                               // mov [0x5000], eax
    0xfa, 0xf4,
  ]));
  vm.vcpus[0]!.setRegisters(flat32(ENTRY));
  assert.equal((await vm.run()).kind, 'hang');
  assert.deepEqual(dev.writes, [[8, [0x44, 0x33, 0x22, 0x11]]]);
  assert.equal(vm.memory.readU32(0x5000), 0x1111_1111);
}));

test('a device calling requestStop stops the VM at once', { skip }, withVm(1, async (vm) => {
  const dev = new Recorder();
  let n = 0;
  dev.onWrite = () => {
    if (++n === 1000) vm.requestStop({ kind: 'debug-exit', value: 3 });
  };
  vm.pio.register(0x80, 1, dev, 'counter');
  vm.memory.write(ENTRY, new Uint8Array([0xe6, 0x80, 0xeb, 0xfc])); // out 0x80, al; jmp back
  vm.vcpus[0]!.setRegisters(flat32(ENTRY));
  const stop = await vm.run();
  assert.deepEqual(stop, { kind: 'debug-exit', value: 3 });
  assert.equal(n, 1000);
}));

/** Marks the guest's first `out` to port 0x80: the vCPU's thread has started. */
function started(vm: KvmVm): Promise<void> {
  return new Promise((resolve) => vm.pio.register(0x80, 1, { read: () => undefined, write: () => resolve() }, 'started'));
}
/** out 0x80, al; then inc eax; jmp back (never exits again). */
const SPIN_AFTER_OUT = new Uint8Array([0xe6, 0x80, 0x40, 0xeb, 0xfd]);

test('requestStop from the event loop stops a guest spinning without exits; run() resumes it', { skip }, withVm(1, async (vm) => {
  vm.memory.write(ENTRY, SPIN_AFTER_OUT);
  vm.vcpus[0]!.setRegisters([...flat32(ENTRY), [REG.rax, 0n]]);
  const t0 = performance.now();
  void started(vm).then(() => setTimeout(() => vm.requestStop({ kind: 'host-stop', reason: 'pause' }), 20));
  const stop = await vm.run();
  const ms = performance.now() - t0;
  assert.deepEqual(stop, { kind: 'host-stop', reason: 'pause' });
  assert.ok(ms < 1000, `took ${ms} ms`);
  let [first] = vm.vcpus[0]!.getRegisters([REG.rax]);
  // A loaded host may not give the vCPU's thread a core within 20 ms: run again until it has counted.
  for (const deadline = Date.now() + 20_000; first === 0n && Date.now() < deadline; ) {
    setTimeout(() => vm.requestStop({ kind: 'host-stop', reason: 'pause' }), 20);
    await vm.run();
    [first] = vm.vcpus[0]!.getRegisters([REG.rax]);
  }
  assert.ok(first! > 0n, 'the guest ran');
  let second = first;
  for (const deadline = Date.now() + 20_000; second === first && Date.now() < deadline; ) {
    setTimeout(() => vm.requestStop({ kind: 'host-stop', reason: 'pause again' }), 20);
    assert.deepEqual(await vm.run(), { kind: 'host-stop', reason: 'pause again' });
    [second] = vm.vcpus[0]!.getRegisters([REG.rax]);
  }
  assert.ok(second! > first!, `the resumed guest went on counting (${first} -> ${second})`);
}));

test('pause() parks a guest spinning without exits, resume() lets it go on; a stop ends a paused run', { skip }, withVm(1, async (vm) => {
  vm.memory.write(ENTRY, SPIN_AFTER_OUT);
  vm.vcpus[0]!.setRegisters([...flat32(ENTRY), [REG.rax, 0n]]);
  const go = started(vm);
  const running = vm.run();
  await go;
  // A loaded host may not give the vCPU's thread a core within a fixed sleep: resume until it has counted.
  let a = 0n;
  for (const deadline = Date.now() + 20_000; ; vm.resume()) {
    await sleep(20);
    await vm.pause();
    [a] = vm.vcpus[0]!.getRegisters([REG.rax]) as [bigint];
    if (a > 0n || Date.now() > deadline) break;
  }
  assert.equal(vm.paused, true);
  await sleep(50);
  const [b] = vm.vcpus[0]!.getRegisters([REG.rax]);
  assert.ok(a > 0n, 'the guest ran before the pause');
  assert.equal(b, a, 'nothing runs while paused');
  let c = a;
  for (const deadline = Date.now() + 20_000; c === a && Date.now() < deadline; ) {
    vm.resume();
    assert.equal(vm.paused, false);
    await sleep(30);
    await vm.pause();
    [c] = vm.vcpus[0]!.getRegisters([REG.rax]) as [bigint];
  }
  assert.ok(c > a, `the resumed guest went on counting (${a} -> ${c})`);
  vm.requestStop({ kind: 'quit', by: 'library', reason: 'done' });
  assert.deepEqual(await running, { kind: 'quit', by: 'library', reason: 'done' });
}));

test('two vCPUs: pausing while the AP does port input loses no input (its IN completes before the pause ends)', { skip }, withVm(2, async (vm) => {
  let served = 0;
  vm.pio.register(0x81, 1, { read: (_o, d) => void (d[0] = served++ & 0xff), write: () => {} }, 'counter');
  // prettier-ignore
  vm.memory.write(ENTRY, new Uint8Array([
    0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00, // SVR: enable the local APIC
    0xc7, 0x05, 0x10, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x01, // ICR high: APIC 1
    0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x45, 0x00, 0x00, // INIT
    0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x08, 0x46, 0x00, 0x00, // SIPI 0x08
    0xeb, 0xfe,                                                 // jmp $
  ]));
  vm.memory.write(0x8000, new Uint8Array([0xe4, 0x81, 0xeb, 0xfc])); // AP: in al, 0x81; jmp back
  vm.vcpus[0]!.setRegisters(flat32(ENTRY));
  const running = vm.run();
  // The AP starts only after INIT/SIPI: on a paravirtual KVM (ring 0 emulated in software) or a loaded host
  // that takes far longer than a fixed sleep, so wait for its first input before pausing.
  for (const deadline = Date.now() + 20_000; served === 0 && Date.now() < deadline; ) await sleep(10);
  for (let round = 0; round < 5; round++) {
    await sleep(30);
    await vm.pause();
    const n = served;
    assert.ok(n > 0, 'the AP reads the port');
    const [rax] = vm.vcpus[1]!.getRegisters([REG.rax]);
    assert.equal(Number(rax! & 0xffn), (n - 1) & 0xff, `round ${round}: the last value read is in AL`);
    await sleep(30);
    assert.equal(served, n, 'no port input while paused');
    vm.resume();
  }
  vm.requestStop({ kind: 'quit', by: 'library', reason: 'done' });
  assert.equal((await running).kind, 'quit');
}));

test('register batches round-trip through REGS, SREGS and MSRS', { skip }, withVm(1, async (vm) => {
  const v = vm.vcpus[0]!;
  v.setRegisters([...flat32(ENTRY), [REG.rbx, 0x1234_5678_9abc_def0n], [REG.gdtrBase, 0x9000n], [REG.gdtrLimit, 0x27n], [msrReg(MSR.IA32_SYSENTER_ESP), 0xabcdn], [REG.cr3, 0x3000n]]);
  const got = v.getRegisters([REG.rbx, REG.rip, REG.cr0, REG.gdtrBase, REG.gdtrLimit, msrReg(MSR.IA32_SYSENTER_ESP), REG.cr3, REG.efer]);
  assert.deepEqual(got, [0x1234_5678_9abc_def0n, BigInt(ENTRY), 0x11n, 0x9000n, 0x27n, 0xabcdn, 0x3000n, 0n]);
  const [attrs] = v.getRegisters([segmentBatch('cs', { selector: 0, base: 0n, limit: 0, attrs: 0 })[3]![0]]);
  assert.equal(attrs, 0xc09bn);
}));

test('two vCPUs: the BSP starts the AP with INIT/SIPI and both reach the device', { skip }, withVm(2, async (vm) => {
  const dev = new Recorder();
  vm.pio.register(0xe9, 1, dev, 'e9');
  // BSP: software-enable its local APIC (SVR bit 8; KVM drops IPIs from a disabled one), then INIT and SIPI (vector 0x08 -> AP starts at 0x8000) through the local APIC ICR, then waits for the AP's flag.
  // prettier-ignore
  vm.memory.write(ENTRY, new Uint8Array([
    0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00, // mov dword [0xfee000f0], 0x1ff (SVR)
    0xc7, 0x05, 0x10, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x01, // mov dword [0xfee00310], 0x01000000 (dest APIC 1)
    0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x45, 0x00, 0x00, // mov dword [0xfee00300], 0x4500 (INIT)
    0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x08, 0x46, 0x00, 0x00, // mov dword [0xfee00300], 0x4608 (SIPI 0x08)
    0x80, 0x3d, 0x00, 0x90, 0x00, 0x00, 0x01,                   // wait: cmp byte [0x9000], 1
    0x75, 0xf7,                                                 // jne wait
    0xb0, 0x42, 0xe6, 0xe9,                                     // mov al, 'B'; out 0xe9, al
    0xfa, 0xf4,                                                 // cli; hlt
  ]));
  // AP, real mode at 0x8000: out 'A', set the flag, halt.
  vm.memory.write(0x8000, new Uint8Array([0xb0, 0x41, 0xe6, 0xe9, 0xc6, 0x06, 0x00, 0x90, 0x01, 0xfa, 0xf4]));
  vm.vcpus[0]!.setRegisters(flat32(ENTRY));
  const stop = await vm.run();
  assert.deepEqual(dev.writes, [[0, [0x41]], [0, [0x42]]]);
  assert.equal(stop.kind, 'hang');
  assert.ok((vm.exitCounts().io ?? 0) >= 2);
}));

test('two vCPUs: a device stop ends the VM while the AP spins without exits', { skip }, withVm(2, async (vm) => {
  const dev = new Recorder();
  dev.onWrite = (_o, d) => {
    if (d[0] === 0x42) vm.requestStop({ kind: 'debug-exit', value: 1 });
  };
  vm.pio.register(0xe9, 1, dev, 'e9');
  // prettier-ignore
  vm.memory.write(ENTRY, new Uint8Array([
    0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00, // SVR: enable the local APIC
    0xc7, 0x05, 0x10, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x01, // ICR high: APIC 1
    0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x45, 0x00, 0x00, // INIT
    0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x08, 0x46, 0x00, 0x00, // SIPI 0x08
    0x80, 0x3d, 0x00, 0x90, 0x00, 0x00, 0x01, 0x75, 0xf7,       // wait for the AP's flag
    0xb0, 0x42, 0xe6, 0xe9,                                     // out 'B' -> the device stops the VM
    0xeb, 0xfe,                                                 // jmp $
  ]));
  // AP: out 'A', set the flag, spin forever (no exits: only the kick signal gets it out of KVM_RUN).
  vm.memory.write(0x8000, new Uint8Array([0xb0, 0x41, 0xe6, 0xe9, 0xc6, 0x06, 0x00, 0x90, 0x01, 0xeb, 0xfe]));
  vm.vcpus[0]!.setRegisters(flat32(ENTRY));
  const t0 = performance.now();
  const stop = await vm.run();
  assert.deepEqual(stop, { kind: 'debug-exit', value: 1 });
  assert.deepEqual(dev.writes, [[0, [0x41]], [0, [0x42]]]);
  assert.ok(performance.now() - t0 < 3000, 'stopped promptly');
}));

test('two vCPUs: a halted BSP and a freshly started AP computing without exits is not a hang', { skip }, withVm(2, async (vm) => {
  const dev = new Recorder();
  vm.pio.register(0xe9, 1, dev, 'e9');
  // prettier-ignore
  vm.memory.write(ENTRY, new Uint8Array([
    0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00, // SVR: enable the local APIC
    0xc7, 0x05, 0x10, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x01, // ICR high: APIC 1
    0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x45, 0x00, 0x00, // INIT
    0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x08, 0x46, 0x00, 0x00, // SIPI 0x08
    0xfa, 0xf4,                                                 // cli; hlt at once
  ]));
  // AP (real mode): mov ecx, 300000; dec ecx; jnz; then out 'A'; cli; hlt
  vm.memory.write(0x8000, new Uint8Array([0x66, 0xb9, 0xe0, 0x93, 0x04, 0x00, 0x66, 0x49, 0x75, 0xfc, 0xb0, 0x41, 0xe6, 0xe9, 0xfa, 0xf4]));
  vm.vcpus[0]!.setRegisters(flat32(ENTRY));
  const stop = await vm.run();
  assert.deepEqual(dev.writes, [[0, [0x41]]]);
  assert.equal(stop.kind, 'hang');
}));

test('64-bit long mode entered directly through the register catalog', { skip }, withVm(1, async (vm) => {
  const dev = new Recorder();
  vm.pio.register(0xe9, 1, dev, 'e9');
  // Identity map the first 1 GiB with 2 MiB pages: PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000.
  vm.memory.writeU64(0x1000, 0x2003n);
  vm.memory.writeU64(0x2000, 0x3003n);
  for (let i = 0; i < 512; i++) vm.memory.writeU64(0x3000 + i * 8, (BigInt(i) << 21n) | 0x83n);
  // mov rax, 0x0123456789abcdef; mov al, 'L'; out 0xe9, al; cli; hlt
  vm.memory.write(ENTRY, new Uint8Array([0x48, 0xb8, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, 0xb0, 0x4c, 0xe6, 0xe9, 0xfa, 0xf4]));
  const data = { selector: 0x18, base: 0n, limit: 0xffff_ffff, attrs: 0xc093 };
  vm.vcpus[0]!.setRegisters([
    ...segmentBatch('cs', { selector: 0x08, base: 0n, limit: 0xffff_ffff, attrs: 0xa09b }),
    ...(['ds', 'es', 'ss', 'fs', 'gs'] as const).flatMap((s) => segmentBatch(s, data)),
    [REG.cr3, 0x1000n],
    [REG.cr4, 0x20n], // PAE
    [REG.efer, 0x500n], // LME | LMA
    [REG.cr0, 0x8000_0011n], // PG | ET | PE
    [REG.rip, BigInt(ENTRY)],
    [REG.rflags, 2n],
  ]);
  assert.equal((await vm.run()).kind, 'hang');
  assert.deepEqual(dev.writes, [[0, [0x4c]]]);
  assert.deepEqual(vm.vcpus[0]!.getRegisters([REG.rax]), [0x0123_4567_89ab_cd4cn]);
}));

test('an IRQ line raised by a device wakes a halted guest through the in-kernel PIC', { skip }, withVm(1, async (vm) => {
  const dev = new Recorder();
  const line = vm.irqLine(5);
  dev.onWrite = (_o, d) => {
    if (d[0] === 0x52) setTimeout(() => { line.set(true); line.set(false); }, 20); // 'R': guest is ready
  };
  vm.pio.register(0xe9, 1, dev, 'e9');
  // GDT at 0x500 (code 0x10, data 0x18), IDT at 0x600 with vector 0x25 -> handler at ENTRY+0x40.
  vm.memory.writeU64(0x510, 0x00cf_9a00_0000_ffffn);
  vm.memory.writeU64(0x518, 0x00cf_9200_0000_ffffn);
  const handler = ENTRY + 0x40;
  const gate = (BigInt(handler >>> 16) << 48n) | (0x8en << 40n) | (0x10n << 16n) | BigInt(handler & 0xffff);
  vm.memory.writeU64(0x600 + 0x25 * 8, gate);
  // prettier-ignore
  vm.memory.write(ENTRY, new Uint8Array([
    0xb0, 0x11, 0xe6, 0x20, // ICW1: edge, cascade, ICW4 needed
    0xb0, 0x20, 0xe6, 0x21, // ICW2: vectors 0x20-0x27
    0xb0, 0x04, 0xe6, 0x21, // ICW3: slave on IRQ2
    0xb0, 0x01, 0xe6, 0x21, // ICW4: 8086 mode
    0xb0, 0xdf, 0xe6, 0x21, // OCW1: unmask IRQ5 only
    0xb0, 0x52, 0xe6, 0xe9, // out 'R'
    0xfb, 0xf4,             // sti; hlt
    0xeb, 0xfd,             // jmp back to hlt (not reached if the handler halts)
  ]));
  // prettier-ignore
  vm.memory.write(handler, new Uint8Array([
    0xb0, 0x49, 0xe6, 0xe9, // out 'I'
    0xb0, 0x20, 0xe6, 0x20, // EOI
    0xfa, 0xf4,             // cli; hlt
  ]));
  vm.vcpus[0]!.setRegisters([...flat32(ENTRY), [REG.gdtrBase, 0x500n], [REG.gdtrLimit, 0x1fn], [REG.idtrBase, 0x600n], [REG.idtrLimit, 0x7ffn]]);
  const stop = await vm.run();
  assert.deepEqual(dev.writes, [[0, [0x52]], [0, [0x49]]]);
  assert.equal(stop.kind, 'hang');
}));

test('GuestMemory.setMap replaces KVM memory slots: a new region becomes guest RAM, non-native backing is refused', { skip }, withVm(1, async (vm) => {
  const extra = vm.allocateNative(0x10_0000);
  vm.memory.setMap([...vm.memory.regions, { name: 'extra', gpa: 0x8000_0000, size: 0x10_0000, bytes: extra }]);
  // mov dword [0x80000010], 0xcafef00d; cli; hlt
  vm.memory.write(ENTRY, new Uint8Array([0xc7, 0x05, 0x10, 0x00, 0x00, 0x80, 0x0d, 0xf0, 0xfe, 0xca, 0xfa, 0xf4]));
  vm.vcpus[0]!.setRegisters(flat32(ENTRY));
  assert.equal((await vm.run()).kind, 'hang');
  assert.equal(new DataView(extra.buffer, extra.byteOffset).getUint32(0x10, true), 0xcafe_f00d);
  assert.throws(() => vm.memory.setMap([...vm.memory.regions, { name: 'js', gpa: 0x9000_0000, size: 0x1000, bytes: new Uint8Array(0x1000) }]), /not native memory/);
}));

test('dirty log: guest writes to a trackDirty region show up after syncDirtyLog', { skip }, withVm(1, async (vm) => {
  // Below 2 GiB: GuestMemory.collectDirty masks addresses with 32-bit signed arithmetic (reported).
  const gpa = 0x4000_0000;
  vm.memory.setMap([...vm.memory.regions, { name: 'tracked', gpa, size: 0x10_0000, bytes: vm.allocateNative(0x10_0000), trackDirty: true }]);
  // mov dword [0x40003004], 1; mov dword [0x40007ffc], 2; cli; hlt
  // prettier-ignore
  vm.memory.write(ENTRY, new Uint8Array([
    0xc7, 0x05, 0x04, 0x30, 0x00, 0x40, 0x01, 0x00, 0x00, 0x00,
    0xc7, 0x05, 0xfc, 0x7f, 0x00, 0x40, 0x02, 0x00, 0x00, 0x00,
    0xfa, 0xf4,
  ]));
  vm.vcpus[0]!.setRegisters(flat32(ENTRY));
  assert.equal((await vm.run()).kind, 'hang');
  vm.syncDirtyLog();
  assert.deepEqual(vm.memory.collectDirty(gpa, 0x10_0000, 100), [gpa + 0x3000, gpa + 0x7000]);
}));

test('features(): in-kernel chips are emulated, PMU state reported with a reason', { skip }, withVm(1, async (vm) => {
  const f = new Map(vm.features().map((x) => [x.name, x]));
  assert.equal(f.get('ioapic')?.mode, 'emulated');
  assert.equal(f.get('pit')?.mode, 'emulated');
  assert.ok(f.get('cpuid.lm')?.mode === 'virtualized');
  const pmu = f.get('pmu')!;
  if (vm.hostPmu.kind === 'none') {
    assert.equal(pmu.mode, undefined);
    assert.match(pmu.reason ?? '', /enable_pmu|PMU/);
    assert.throws(() => setKvmPmuEventFilter(vm, { action: 0, fixedCounterBitmap: 0, flags: 0, events: [0xc0n] }), (e: unknown) => e instanceof KvmError && /no PMU/.test(e.message));
  }
}));

test('--pmu on is refused without a host PMU; --pmu off is accepted', { skip }, () => {
  const probe = createKvmVm({ memBytes: 16 * MB, cpus: 1, pmu: 'off' });
  const none = probe.hostPmu.kind === 'none';
  assert.equal(probe.features().find((f) => f.name === 'pmu')?.mode, undefined);
  probe.destroy();
  if (none) {
    assert.throws(() => createKvmVm({ memBytes: 16 * MB, cpus: 1, pmu: 'on' }), (e: unknown) => e instanceof KvmError && /--pmu on needs a guest PMU, but this host has none \(.*(enable_pmu|PMU).*\)/.test(e.message));
  } else {
    const vm = createKvmVm({ memBytes: 16 * MB, cpus: 1, pmu: 'on' });
    try {
      assert.notEqual(vm.features().find((f) => f.name === 'pmu')?.mode, undefined, 'a host with a guest PMU gives one with --pmu on');
    } finally {
      vm.destroy();
    }
  }
});

test('bad configurations fail with clear errors', { skip }, () => {
  assert.throws(() => createKvmVm({ memBytes: 16 * MB, cpus: 0 }), /--cpus 0 is out of range/);
  assert.throws(() => createKvmVm({ memBytes: 1000, cpus: 1 }), /guest memory/);
  assert.throws(() => createKvmVm({ memBytes: 16 * MB, cpus: 1, device: '/nonexistent/kvm' }), /does not exist/);
});
