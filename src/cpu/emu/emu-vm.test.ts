import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createEmuVm } from './emu-vm.js';
import { REG, MSR, msrReg, segReg, segmentBatch } from '../registers.js';
import { hex } from './cpu-harness.test-util.js';
import { pmuFromArgs, runGuest } from './guest-harness.test-util.js';
import { loadPmuFilterJson } from '../../pmu/index.js';

function flat32Batch(entry: number): [number, bigint][] {
  return [
    [REG.rip, BigInt(entry)],
    [REG.rflags, 2n],
    [REG.cr0, 0x11n],
    [REG.rsp, 0x8000n],
    ...segmentBatch('cs', { selector: 0x08, base: 0n, limit: 0xffffffff, attrs: 0xc09b }),
    ...segmentBatch('ds', { selector: 0x10, base: 0n, limit: 0xffffffff, attrs: 0xc093 }),
    ...segmentBatch('ss', { selector: 0x10, base: 0n, limit: 0xffffffff, attrs: 0xc093 }),
  ];
}

function withPorts(vm: ReturnType<typeof createEmuVm>): { out: number[] } {
  const out: number[] = [];
  vm.pio.register(0x3f8, 8, { read: (o, d) => void (d[0] = o === 5 ? 0x60 : 0), write: (o, d) => void (o === 0 && out.push(d[0]!)) }, 'com1');
  vm.pio.register(0xf4, 1, { read: (_o, d) => d.fill(0), write: (_o, d) => vm.requestStop({ kind: 'debug-exit', value: d[0]! }) }, 'debug-exit');
  return { out };
}

test('multiboot-like 32-bit entry prints to COM1 and exits through the debug-exit port', async () => {
  const vm = createEmuVm({ memBytes: 8 << 20, cpus: 1, deterministic: true });
  const { out } = withPorts(vm);
  // mov esi, msg; mov dx, 0x3f8; next: lodsb; test al,al; jz done; out dx,al; jmp next; done: mov al,3; out 0xf4,al
  vm.memory.write(
    0x100000,
    hex(`be 20001000  66 ba f803  ac 84 c0 74 03 ee eb f8  b0 03 e6 f4 f4`),
  );
  vm.memory.write(0x100020, new TextEncoder().encode('hi emu\n\0'));
  vm.vcpus[0]!.setRegisters(flat32Batch(0x100000));
  const stop = await vm.run();
  assert.deepEqual(stop, { kind: 'debug-exit', value: 3 });
  assert.equal(String.fromCharCode(...out), 'hi emu\n');
  const counts = vm.exitCounts();
  assert.equal(counts.io, 8);
  assert.ok(counts.instructions! > 20);
});

test('all vCPUs halted with IF=0 is a hang; a triple fault is a shutdown', async () => {
  const vm = createEmuVm({ memBytes: 4 << 20, cpus: 1 });
  vm.memory.write(0x1000, hex('fa f4'));
  vm.vcpus[0]!.setRegisters(flat32Batch(0x1000));
  assert.equal((await vm.run()).kind, 'hang');

  const vm2 = createEmuVm({ memBytes: 4 << 20, cpus: 1 });
  vm2.memory.write(0x1000, hex('0f 0b'));
  vm2.vcpus[0]!.setRegisters([...flat32Batch(0x1000), [REG.idtrLimit, 0n]]);
  const s = await vm2.run();
  assert.equal(s.kind, 'shutdown');
});

test('a guest that can never make progress is a hang naming each vCPU; one that can be woken or is still working is not', async () => {
  const cases: [string, string, RegExp | string][] = [
    ['cli; jmp $', 'fa eb fe', /vCPU 0 loops at rip 0x1001 with interrupts disabled and no side effect/],
    ['cli; pause loop', 'fa f3 90 eb fc', /vCPU 0 loops at rip 0x100[13] with interrupts disabled/],
    ['cli; mov eax, 5; l: add eax, 0; jnz l', 'fa b8 05000000 83 c0 00 75 fb', /vCPU 0 loops at rip 0x100[69]/],
    ['sti; hlt, both 8259s masked (LAPIC LVTs and IOAPIC masked from reset)', 'b0 ff e6 21 e6 a1 fb f4 eb fd', /vCPU 0 halted at rip 0x100[89] with every interrupt source masked/],
    ['sti; jmp $, both 8259s masked', 'b0 ff e6 21 e6 a1 fb eb fe', /vCPU 0 loops at rip 0x1007 with every interrupt source masked/],
    ['cli; counting loop: ends, then debug exit', 'fa b9 00000100 e2 fe b0 07 e6 f4 f4', 'debug-exit'],
    ['sti; hlt with the 8259 left unmasked: a device may interrupt', 'fb f4 eb fd', 'host-stop'],
    ['sti; pause loop with the 8259 left unmasked: a busy-wait for an interrupt', 'fb f3 90 eb fc', 'host-stop'],
    ['cli; poll the TSC until bit 20 flips: it ends', 'fa 0f 31 a9 00001000 74 f7 b0 07 e6 f4 f4', 'debug-exit'],
    ['cli; poll a port: left alone', 'fa e4 61 a8 00 74 fa', 'host-stop'],
    ['cli; poll memory: left alone', 'fa 83 3d 00200000 00 74 f7', 'host-stop'],
  ];
  for (const [name, code, want] of cases) {
    const vm = createEmuVm({ memBytes: 4 << 20, cpus: 1, deterministic: true });
    withPorts(vm);
    vm.memory.write(0x1000, hex(code));
    vm.vcpus[0]!.setRegisters(flat32Batch(0x1000));
    // Cases that must end by themselves get a generous bound (a loaded host ran 'cli; jmp $' past 1.5 s
    // before the hang check had seen enough); the ones the host must stop still stop after 1.5 s.
    const limitMs = want === 'host-stop' ? 1500 : 30_000;
    const timer = setTimeout(() => vm.requestStop({ kind: 'host-stop', reason: 'test time limit' }), limitMs);
    const stop = await vm.run();
    clearTimeout(timer);
    if (typeof want === 'string') assert.equal(stop.kind, want, `${name}: ${JSON.stringify(stop)}`);
    else {
      assert.equal(stop.kind, 'hang', `${name}: ${JSON.stringify(stop)}`);
      assert.match((stop as { detail: string }).detail, want, name);
    }
  }
});

test('register catalog round trip: segments, descriptor tables, control registers, MSRs', () => {
  const vm = createEmuVm({ memBytes: 4 << 20, cpus: 2 });
  const v = vm.vcpus[0]!;
  v.setRegisters([
    ...segmentBatch('fs', { selector: 0x33, base: 0xffff800000001000n, limit: 0xfffff, attrs: 0xa0f3 }),
    [REG.gdtrBase, 0x5000n],
    [REG.gdtrLimit, 0x3fn],
    [REG.cr3, 0x123000n],
    [msrReg(MSR.IA32_LSTAR), 0xffffffff81000000n],
    [msrReg(MSR.IA32_STAR), 0x0023001000000000n],
    [msrReg(MSR.IA32_KERNEL_GS_BASE), 0x1234n],
    [msrReg(MSR.IA32_PAT), 0x0007040600070406n],
  ]);
  assert.deepEqual(v.getRegisters([segReg('fs', 'selector'), segReg('fs', 'base'), segReg('fs', 'limit'), segReg('fs', 'attrs')]), [0x33n, 0xffff800000001000n, 0xfffffn, 0xa0f3n]);
  assert.deepEqual(v.getRegisters([REG.gdtrBase, REG.gdtrLimit, REG.cr3]), [0x5000n, 0x3fn, 0x123000n]);
  assert.deepEqual(v.getRegisters([msrReg(MSR.IA32_LSTAR), msrReg(MSR.IA32_STAR), msrReg(MSR.IA32_KERNEL_GS_BASE), msrReg(MSR.IA32_PAT)]), [0xffffffff81000000n, 0x0023001000000000n, 0x1234n, 0x0007040600070406n]);
  // Reset state: real mode at F000:FFF0 with CS base 0xFFFF0000.
  assert.deepEqual(vm.vcpus[1]!.getRegisters([REG.rip, segReg('cs', 'base'), REG.cr0]), [0xfff0n, 0xffff0000n, 0x60000010n]);
  const names = vm.features().map((f) => f.name);
  for (const n of ['lm', 'nx', 'syscall', 'apic', 'x2apic', 'tsc-deadline']) assert.ok(names.includes(n), n);
  assert.ok(vm.features().filter((f) => f.name === 'lm').every((f) => f.mode === 'emulated'));
});

// The project's guests, when built (node scripts/build-guests.mjs).
const manifestPath = new URL('../../../../guests/manifest.json', import.meta.url);
const buildDir = new URL('../../../../guests/build/', import.meta.url);
interface Run {
  id: string;
  cmdline: string;
  stdin?: string;
  cpus: number;
  exitStatus: number;
  expect: { exact?: string; regex?: string };
  tsvmmArgs?: string[];
  accel?: string[];
}
const guests: { name: string; build?: { dir?: string }; runs: Run[] }[] = existsSync(manifestPath) ? (JSON.parse(readFileSync(manifestPath, 'utf8')) as { guests: never[] }).guests : [];
for (const g of guests) {
  for (const run of g.runs) {
    const file = new URL(`${g.name}.elf`, buildDir);
    // fw_cfg, CMOS, UART interrupts and the power-off port (the demo) need the real devices of the VMM
    // (tests/ runs those through the CLI).
    const needsDevices = run.id === 'echo-irq' || (g.name === 'smp' && !/cpus=/.test(run.cmdline)) || g.name === 'platform' || g.name === 'demo';
    const notEmu = run.accel !== undefined && !run.accel.includes('emu');
    test(`guest ${run.id} on emu`, { skip: !existsSync(file) ? 'guest not built' : notEmu ? 'a KVM-only run' : needsDevices ? 'needs VMM devices (fw_cfg / UART IRQ / power-off)' : false }, async () => {
      const args = run.tsvmmArgs ?? [];
      const pmuConfig = pmuFromArgs(args);
      const fk = args.indexOf('--pmu-filter');
      const filterPath = fk >= 0 ? new URL(`../../../../${args[fk + 1]}`, import.meta.url) : undefined;
      const filter = filterPath !== undefined ? loadPmuFilterJson(readFileSync(filterPath, 'utf8'), args[fk + 1]!) : null;
      const r = await runGuest(readFileSync(file), {
        fileName: `guests/build/${g.name}.elf`,
        cmdline: run.cmdline,
        cpus: run.cpus,
        stdin: run.stdin ?? '',
        timeoutMs: 60000,
        ...(pmuConfig !== undefined ? { pmu: { config: pmuConfig, filter } } : {}),
        ...(args.includes('--la57') ? { la57: true } : {}),
      });
      if (run.expect.exact !== undefined) assert.equal(r.output, run.expect.exact);
      if (run.expect.regex !== undefined) assert.match(r.output, new RegExp(run.expect.regex, 's'));
      assert.equal(r.status, run.exitStatus, JSON.stringify(r.stop));
    });
  }
}

test('device DMA over code the vCPU already ran replaces it: the decoded blocks are dropped', async () => {
  const vm = createEmuVm({ memBytes: 4 << 20, cpus: 1, deterministic: true });
  const { GuestDma } = await import('../../memory/dma.js');
  const dma = new GuestDma(vm.memory);
  // 0x1000: mov ecx, 4; 1005: call 0x2000 (mov al, 1; ret); loop 1005 (the block is run often enough to be cached);
  // out 0x90 (the "device" DMAs new code over 0x2000); call 0x2000; out 0xf4, al (exit with what it returned).
  vm.memory.write(0x1000, hex('b9 04000000 e8 f60f0000 e2 f9 e6 90 e8 ed0f0000 e6 f4'));
  vm.memory.write(0x2000, hex('b0 01 c3'));
  vm.pio.register(0x90, 1, { read: (_o, d) => d.fill(0xff), write: () => dma.write(0x2000, hex('b0 07 c3')) }, 'dma-device');
  vm.pio.register(0xf4, 1, { read: (_o, d) => d.fill(0), write: (_o, d) => vm.requestStop({ kind: 'debug-exit', value: d[0]! }) }, 'debug-exit');
  vm.vcpus[0]!.setRegisters(flat32Batch(0x1000));
  const stop = await vm.run();
  assert.deepEqual(stop, { kind: 'debug-exit', value: 7 }, 'the second call ran the code the device wrote');
  assert.ok(vm.exitCounts()['code-invalidations']! >= 1);
  assert.equal(vm.signalMsi(0xfee0_0000, 0x30), false, 'the BSP APIC is software-disabled after reset: nothing accepts it');
});

test('a fault storm (an exception handler outside RAM: FF FF, #UD, again) retires nothing but still lets the host stop the run', { timeout: 30_000 }, async () => {
  const vm = createEmuVm({ memBytes: 4 << 20, cpus: 1, deterministic: true });
  // GDT at 0x10000 (flat code 0x08, data 0x10); IDT at 0x11000 whose #UD gate points at 0xe0000000 (no RAM).
  // The stack (0x8000 down, then wrapping to where no RAM is) never reaches them.
  vm.memory.write(0x10000, hex('0000000000000000 ffff0000009bcf00 ffff00000093cf00'));
  vm.memory.write(0x11000 + 6 * 8, hex('0000 0800 00 8e 00e0'));
  vm.memory.write(0x1000, hex('0f 0b'));
  vm.vcpus[0]!.setRegisters([...flat32Batch(0x1000), [REG.gdtrBase, 0x10000n], [REG.gdtrLimit, 0x17n], [REG.idtrBase, 0x11000n], [REG.idtrLimit, 0x7ffn]]);
  const timer = setTimeout(() => vm.requestStop({ kind: 'host-stop', reason: 'test time limit' }), 300);
  const stop = await vm.run();
  clearTimeout(timer);
  assert.equal(stop.kind, 'host-stop', JSON.stringify(stop));
  const counts = vm.exitCounts();
  assert.equal(counts.instructions, 0, 'nothing retired');
  assert.ok(counts.exceptions! > 4096, `${counts.exceptions} exceptions delivered`);
});

test('reference cycles (fixed counter 2) count TSC ticks while the vCPU runs, not core cycles', async () => {
  const { resolvePmuConfig } = await import('../../pmu/index.js');
  // A 4 GHz TSC: four ticks per ns, more than any host retires instructions here, so ticks and core cycles differ
  // (and 6M instructions stay below 2^32 ticks down to ~6 MIPS).
  const vm = createEmuVm({ memBytes: 4 << 20, cpus: 1, tscHz: 4e9, pmu: { config: resolvePmuConfig({}) } });
  // FIXED_CTR_CTRL = 0x300 (fixed 2, OS+USR); esi = rdtsc; GLOBAL_CTRL = 1 << 34; 3M x (dec; jnz);
  // GLOBAL_CTRL = 0; edi = rdtsc - esi; eax = FIXED_CTR2; hlt (IF = 0: the run ends as a hang).
  vm.memory.write(
    0x1000,
    hex(`b9 8d030000 b8 00030000 31 d2 0f 30  0f 31 89 c6  b9 8f030000 31 c0 ba 04000000 0f 30
         bb c0c62d00 4b 75 fd  b9 8f030000 31 c0 31 d2 0f 30  0f 31 29 f0 89 c7  b9 0b030000 0f 32  f4`),
  );
  vm.vcpus[0]!.setRegisters(flat32Batch(0x1000));
  assert.equal((await vm.run()).kind, 'hang');
  const [ref, ticks] = vm.vcpus[0]!.getRegisters([REG.rax, REG.rdi]).map((v) => Number(v & 0xffff_ffffn));
  const insns = 6_000_010;
  assert.ok(ticks! > 3 * insns, `the TSC ran ${ticks} ticks`);
  assert.ok(ref! <= ticks!, `ref ${ref} <= TSC ticks ${ticks}`);
  // Below the TSC delta only by the time the run loop spent outside the vCPU (yields to the host).
  assert.ok(ref! >= 0.3 * ticks!, `ref ${ref} is most of TSC ticks ${ticks}`);
  assert.ok(ref! > 2 * insns, `ref ${ref} counts ticks, not the ${insns} core cycles`);
});
