/**
 * The gdb stub with the machine's real gdb in batch mode: against the `debug` guest on emu (symbols from its
 * ELF64): breakpoints, registers incl. control and SSE/x87, stepping, a hardware watchpoint, physical memory,
 * threads, the exit status; the same session against the `debuggee` guest on emu and on kvm (KVM_SET_GUEST_DEBUG,
 * where a probe guest shows it works); and a raw protocol client for Ctrl-C on a running guest with 2 vCPUs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { guestPath, runCli } from './guest-runner.js';
import { exited, kvmStubSkip, noGdb, runGdbBatch, startGdbStub as startStub } from './gdb-runner.js';
import { RspDecoder, encodePacket } from '../src/debug/gdb/rsp-codec.js';
import { guestDebugSupport } from '../src/cpu/kvm/guest-debug-probe.js';

/** Runs gdb in batch mode with `script` against guest `guest`'s ELF64 symbols; resolves with everything it printed. */
async function runGdb(script: string, guest: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-gdb-'));
  const cmds = join(dir, 'cmds.gdb');
  writeFileSync(cmds, `${script}\n`);
  try {
    // Asynchronously: the stub's output pipes must keep draining while gdb runs.
    return (await runGdbBatch(['-batch', '-nx', '-x', cmds, guestPath(guest).replace(/\.elf$/, '.elf64')], 120_000)).text;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The opening both gdb sessions share: connect, break at kmain and run to it, check long mode and a stack
 * ($1-$4), step once ($5), list the threads.
 */
function toKmain(port: number): string[] {
  return [
    'set pagination off',
    'set confirm off',
    `target remote 127.0.0.1:${port}`,
    'break kmain',
    'continue',
    'p/x $pc == kmain',
    'p/x $cr0 & 0x80000001',
    'p/x $efer & 0x500',
    'p $rsp != 0',
    'stepi',
    'p $pc != kmain',
    'info threads',
  ];
}

for (const accel of ['emu', 'kvm'] as const) {
  const skip = accel === 'emu' ? noGdb : noGdb || kvmStubSkip();
  test(`gdb in batch mode on ${accel}: break, stepi, registers incl. x87/SSE writes, hbreak, watch, memory, continue to the exit`, { skip, timeout: 180_000 }, async () => {
    const { child, port, output } = await startStub(['--kernel', guestPath('debuggee'), '--serial', 'stdio', '--gdb-wait'], accel);
    try {
      // Where KVM's data breakpoints do not fire (kvm_pvm: ring 0 is emulated), the stub keeps the write watchpoint
      // itself by single-stepping (KVM_GUESTDBG_SINGLESTEP) and comparing; gdb sees a hardware watchpoint either way.
      const script = [
        ...toKmain(port),
        // SSE registers the guest never touched read as the architecture has them (kvm: through the XSAVE area;
        // KVM_GET_FPU said MXCSR 0 and KVM_SET_FPU dropped MXCSR writes on kvm_pvm). The x87 control and tag words
        // differ between the engines at reset: emu has the power-up 0x40/0x5555, KVM the FNINIT 0x37f/0xffff.
        'p/x $mxcsr',
        'p $xmm3.uint128',
        'set $mxcsr = 0x1fa0',
        'p/x $mxcsr',
        'set $xmm3.v4_int32[0] = 7',
        'p $xmm3.v4_int32[0]',
        'set $st0 = 2.5',
        'p $st0',
        'hbreak bump',
        'continue',
        'p/x $pc == (long)&bump',
        'p $rdi',
        'delete',
        'watch *(unsigned int *)&counter',
        'continue',
        'p *(unsigned int *)&counter',
        'delete',
        'p/x *(unsigned char *)&bump',
        'monitor phys on',
        'p/x *(unsigned char *)&bump',
        'monitor phys off',
        'break bump',
        'continue',
        'p $rdi',
        'delete',
        'continue',
      ].join('\n');
      const out = await runGdb(script, 'debuggee');
      const values = [...out.matchAll(/^\$\d+ = (.*)$/gm)].map((m) => m[1]);
      // bump's first byte is the same through the identity map and physically; after the watch stopped in
      // bump(1), the next call is bump(2).
      assert.deepEqual(values, ['0x1', '0x80000001', '0x500', '1', '1', '0x1f80', '0', '0x1fa0', '7', '2.5', '0x1', '1', '1', values[13], values[13], '2'], out);
      assert.match(out, /Breakpoint 1, 0x[0-9a-f]+ in kmain \(\)/);
      assert.match(out, /Thread 1 \(vCPU 0, long mode, CPL 0, running/);
      assert.match(out, /Hardware assisted breakpoint 2 at 0x[0-9a-f]+\s+Breakpoint 2, 0x[0-9a-f]+ in bump \(\)/);
      assert.match(out, /Hardware watchpoint 3: \*\(unsigned int \*\)&counter\s+Old value = 0\s+New value = 1/);
      assert.match(out, /memory accesses use physical addresses/);
      assert.match(out, /\[Inferior 1 \(Remote target\) exited with code 01\]/);
      assert.equal(await exited(child), 1);
      assert.equal(output(), 'debuggee: counter = 10\r\n');
    } finally {
      child.kill('SIGKILL');
    }
  });
}

for (const accel of ['emu', 'kvm'] as const) {
  const skip = accel === 'emu' ? noGdb : noGdb || kvmStubSkip();
  test(`gdb in batch mode on ${accel}: rwatch and awatch stop after the reading and writing instructions`, { skip, timeout: 180_000 }, async () => {
    const { child, port, output } = await startStub(['--kernel', guestPath('debuggee'), '--serial', 'stdio', '--gdb-wait'], accel);
    try {
      // bump: mov counter(%rip),%eax; add %edi,%eax; mov %eax,counter(%rip); ret. Where KVM's data breakpoints do not
      // fire (kvm_pvm), the stub guards counter's page: its accesses become MMIO exits the stub completes.
      const script = [
        ...toKmain(port),
        'rwatch *(unsigned int *)&counter',
        'continue',
        'p/x $pc - (long)&bump',
        'p $rdi',
        'continue',
        'p/x $pc - (long)&bump',
        'p $rdi',
        'delete',
        'awatch *(unsigned int *)&counter',
        'continue',
        'p/x $pc - (long)&bump',
        'continue',
        'p/x $pc - (long)&bump',
        'p *(unsigned int *)&counter',
        'delete',
        'continue',
      ].join('\n');
      const out = await runGdb(script, 'debuggee');
      const values = [...out.matchAll(/^\$\d+ = (.*)$/gm)].map((m) => m[1]);
      // rwatch stops after the reads (bump+6) of bump(1) and bump(2); awatch then after bump(2)'s write (bump+0xe) and
      // bump(3)'s read.
      assert.deepEqual(values, ['0x1', '0x80000001', '0x500', '1', '1', '0x6', '1', '0x6', '2', '0xe', '0x6', '3'], out);
      assert.match(out, /Hardware read watchpoint 2: \*\(unsigned int \*\)&counter\s+Value = 0\n/);
      assert.match(out, /Hardware read watchpoint 2: \*\(unsigned int \*\)&counter\s+Value = 1\n/);
      assert.match(out, /Hardware access \(read\/write\) watchpoint 3: \*\(unsigned int \*\)&counter\s+Old value = 1\s+New value = 3\n/);
      assert.match(out, /Hardware access \(read\/write\) watchpoint 3: \*\(unsigned int \*\)&counter\s+Value = 3\n/);
      assert.match(out, /\[Inferior 1 \(Remote target\) exited with code 01\]/);
      assert.equal(await exited(child), 1);
      assert.equal(output(), 'debuggee: counter = 10\r\n');
    } finally {
      child.kill('SIGKILL');
    }
  });
}

const pvmSkip = ((): string | false => {
  const s = kvmStubSkip();
  if (s !== false) return s;
  const p = guestDebugSupport();
  return p.ok && p.support.hwWatch ? "KVM's data breakpoints fire here: read watchpoints use them, no page is guarded" : false;
})();
test('raw protocol on kvm without data breakpoints: a read watchpoint on the page a vCPU executes is refused, with the reason', { skip: pvmSkip, timeout: 120_000 }, async () => {
  const { child, port } = await startStub(['--kernel', guestPath('debuggee'), '--serial', 'none', '--gdb-wait'], 'kvm');
  const sock = connect(port, '127.0.0.1');
  const decoder = new RspDecoder();
  const replies: string[] = [];
  let waiting: (() => void) | undefined;
  sock.on('data', (d: Buffer) => {
    for (const e of decoder.feed(d)) if (e.kind === 'packet') replies.push(Buffer.from(e.data).toString('latin1'));
    waiting?.();
  });
  const ask = async (p: string, n = 1): Promise<string[]> => {
    sock.write(encodePacket(p));
    while (replies.length < n) await new Promise<void>((r) => (waiting = r));
    return replies.splice(0, n);
  };
  try {
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    assert.deepEqual(await ask('QStartNoAckMode'), ['OK']);
    const rip = BigInt.asUintN(64, BigInt(`0x${Buffer.from((await ask('p10'))[0]!, 'hex').reverse().toString('hex')}`));
    assert.deepEqual(await ask(`Z3,${rip.toString(16)},1`), ['E01'], 'the page RIP is on');
    const [info] = await ask(`qRcmd,${Buffer.from('info').toString('hex')}`, 2);
    assert.match(Buffer.from(info!.slice(1), 'hex').toString(), /read watchpoint at 0x[0-9a-f]+ refused: its page \(guest-physical 0x[0-9a-f]+\) holds code a vCPU executes, and KVM cannot run code from a guarded page/);
    assert.deepEqual(await ask('D'), ['OK']);
  } finally {
    sock.destroy();
    child.kill('SIGKILL');
    await exited(child);
  }
});

test('gdb in batch mode: break, registers, stepi, hbreak, watchpoint, physical memory, threads, exit status', { skip: noGdb, timeout: 180_000 }, async () => {
  const { child, port, output } = await startStub(['--kernel', guestPath('debug'), '--serial', 'stdio', '--gdb-wait']);
  try {
    const script = [
      ...toKmain(port),
      'p/x $mxcsr',
      'p/x $fctrl',
      'p $xmm15.uint128',
      // the guest's #DB handler (an ELF symbol without debug info: take its address)
      'hbreak on_db',
      'continue',
      'p/x $pc == (long)&on_db',
      'delete',
      // the first write of `watched` (the guest's section 5; it read it first: a write watchpoint ignores that)
      'watch *(unsigned int *)&watched',
      'continue',
      'p/x *(unsigned int *)&watched',
      'p/x $pc == (long)&dw_write_after',
      'delete',
      'p/x *(unsigned char *)0x100000',
      'monitor phys on',
      'p/x *(unsigned char *)0x100000',
      'monitor phys off',
      'monitor icount',
      'continue',
    ].join('\n');
    const out = await runGdb(script, 'debug');
    const values = [...out.matchAll(/^\$\d+ = (.*)$/gm)].map((m) => m[1]);
    // (the x87 control word is 0x40 after power-on, 0x37f only after FNINIT; the byte at 1 MiB is the same through
    // the identity map and physically)
    assert.deepEqual(values, ['0x1', '0x80000001', '0x500', '1', '1', '0x1f80', '0x40', '0', '0x1', '0x5', '0x1', values[11], values[11]], out);
    assert.match(out, /Breakpoint 1, 0x[0-9a-f]+ in kmain \(\)/);
    assert.match(out, /Thread 1 \(vCPU 0, long mode, CPL 0, running, \d+ instructions\)/);
    assert.match(out, /Hardware assisted breakpoint 2 at 0x[0-9a-f]+\s+Breakpoint 2, 0x[0-9a-f]+ in on_db \(\)/);
    assert.match(out, /Hardware watchpoint 3: \*\(unsigned int \*\)&watched\s+Old value = 0\s+New value = 5/);
    assert.match(out, /memory accesses use physical addresses/);
    assert.match(out, /vCPU 0: \d+/);
    assert.match(out, /\[Inferior 1 \(Remote target\) exited with code 01\]/);
    assert.equal(await exited(child), 1);
    // The guest's own checks are unaffected by the stops.
    assert.match(output(), /debug: all as expected/);
  } finally {
    child.kill('SIGKILL');
  }
});

test('gdb in batch mode against the la57 guest: a breakpoint beyond +-2^53 stops there once, with the exact $pc; stepping over it goes on', { skip: noGdb, timeout: 180_000 }, async () => {
  const { child, port, output } = await startStub(['--kernel', guestPath('la57'), '--serial', 'stdio', '--la57', '--gdb-wait']);
  try {
    // The guest calls high_code_probe once through Linux's 5-level direct map (0xff11000000000000 + its address):
    // a RIP beyond +-2^53. A second breakpoint inside its first instruction (never a RIP) must not fire.
    const at = '0xff11000000000000 + (long)&high_code_probe';
    const script = [
      'set pagination off',
      'set confirm off',
      `target remote 127.0.0.1:${port}`,
      `break *(${at})`,
      `break *(${at} + 2)`,
      'continue',
      'p/x (long)$pc - (long)&high_code_probe',
      'stepi',
      'p/x (long)$pc - (long)&high_code_probe',
      'p/x $rax - (long)&high_code_probe',
      'continue',
    ].join('\n');
    const out = await runGdb(script, 'la57');
    const values = [...out.matchAll(/^\$\d+ = (.*)$/gm)].map((m) => m[1]);
    assert.deepEqual(values, ['0xff11000000000000', '0xff11000000000007', '0xff11000000000000'], out);
    assert.equal([...out.matchAll(/^Breakpoint \d+, /gm)].length, 1, out);
    assert.match(out, /\[Inferior 1 \(Remote target\) exited with code \d+\]/);
    await exited(child);
    // The guest's own checks are unaffected by the stop.
    assert.match(output(), /la57: all as expected/);
  } finally {
    child.kill('SIGKILL');
  }
});

for (const accel of ['emu', 'kvm'] as const) {
  test(`raw protocol on ${accel}: Ctrl-C stops a running guest, vCPUs are threads, detach lets it run on`, { skip: accel === 'kvm' ? kvmStubSkip() : false, timeout: 120_000 }, async () => {
    const { child, port } = await startStub(['--kernel', guestPath('ticker'), '--serial', 'none', '--cpus', '2'], accel);
    const sock = connect(port, '127.0.0.1');
    const decoder = new RspDecoder();
    const replies: string[] = [];
    let waiting: ((s: string) => void) | undefined;
    sock.on('data', (d: Buffer) => {
      for (const e of decoder.feed(d)) {
        if (e.kind !== 'packet') continue;
        const s = Buffer.from(e.data).toString('latin1');
        if (waiting !== undefined) {
          const w = waiting;
          waiting = undefined;
          w(s);
        } else replies.push(s);
      }
    });
    const next = (): Promise<string> => (replies.length > 0 ? Promise.resolve(replies.shift()!) : new Promise((resolve) => (waiting = resolve)));
    const ask = (p: string): Promise<string> => {
      sock.write(encodePacket(p));
      return next();
    };
    try {
      await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
      assert.equal(await ask('QStartNoAckMode'), 'OK');
      assert.equal(await ask('?'), 'T05thread:1;');
      assert.equal(await ask('qfThreadInfo'), 'm1,2');
      const rip0 = await ask('p10');
      // Continue, then Ctrl-C: the stop must come whatever the host's speed. That the guest ran in between is
      // shown by RIP or the instruction count moving; on a loaded host the first window may be too short for
      // the run loop to get a slice in, so the window grows until it has (the guest is an endless ticker).
      const icount = async (): Promise<string> => {
        const o = await ask(`qRcmd,${Buffer.from('icount').toString('hex')}`); // an O packet with the text, then OK
        assert.equal(await next(), 'OK');
        return o;
      };
      const icount0 = await icount();
      let rip1 = rip0;
      let icount1 = icount0;
      for (let wait = 200; rip1 === rip0 && icount1 === icount0 && wait <= 12_800; wait *= 2) {
        sock.write(encodePacket('c'));
        await new Promise((r) => setTimeout(r, wait));
        sock.write(Uint8Array.of(3));
        assert.equal(await next(), 'T02thread:1;');
        rip1 = await ask('p10');
        icount1 = await icount();
      }
      assert.ok(rip1 !== rip0 || icount1 !== icount0, 'the guest ran between the two stops');
      assert.match(Buffer.from(await ask('qThreadExtraInfo,2'), 'hex').toString(), /vCPU 1, real mode, CPL 0, waiting for SIPI/);
      // Physical memory past the end of RAM: an error, not a crash.
      assert.equal(await ask('m7fffffff000,10'), 'E14');
      assert.equal(await ask('D'), 'OK');
      assert.equal(child.exitCode, null, 'the VM runs on after the detach');
      sock.destroy();
      // A second gdb finds the VM paused and can debug it: a single step stops again (the detach had
      // disarmed the vCPUs' debug hooks, and the next gdb's step then never stopped). Until the stub has seen
      // the first connection close it turns a new one away, so connect until one is kept.
      const got: string[] = [];
      let again: Socket | undefined;
      for (let attempt = 0; again === undefined; attempt++) {
        assert.ok(attempt < 100, 'the stub keeps turning a second gdb away');
        const c = connect(port, '127.0.0.1');
        const dec2 = new RspDecoder();
        c.on('data', (d: Buffer) => {
          for (const e of dec2.feed(d)) if (e.kind === 'packet') got.push(Buffer.from(e.data).toString('latin1'));
        });
        c.on('error', () => {});
        const closed = new Promise<boolean>((r) => c.once('close', () => r(true)));
        await new Promise<void>((resolve) => c.once('connect', () => resolve()).once('close', () => resolve()));
        c.write(encodePacket('QStartNoAckMode'));
        const kept = await Promise.race([closed, new Promise<boolean>((r) => setTimeout(() => r(false), 2000))]);
        if (!kept && got.length > 0) again = c;
        else {
          c.destroy();
          got.length = 0;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      const reply = async (p: string): Promise<string> => {
        again!.write(encodePacket(p));
        for (const t0 = Date.now(); got.length === 0; await new Promise((r) => setTimeout(r, 20))) {
          if (Date.now() - t0 > 30_000) throw new Error(`no reply to ${p} from the second gdb session`);
        }
        return got.shift()!;
      };
      try {
        assert.equal(got.shift(), 'OK', 'QStartNoAckMode');
        assert.equal(await reply('?'), 'T05thread:1;');
        assert.match(await reply('vCont;s:1'), /^T05thread:1;/, 'a step in the second session stops');
        assert.equal(await reply('D'), 'OK');
      } finally {
        again.destroy();
      }
    } finally {
      sock.destroy();
      child.kill('SIGKILL');
      await exited(child);
    }
  });
}

test('--gdb bad input: one line each, usage status', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-gdb-'));
  try {
    const bad = await runCli(['run', '--accel', 'emu', '--gdb', 'serial:/dev/ttyS0']);
    assert.equal(bad.status, 64);
    assert.match(bad.stderr, /^tsvmm: --gdb takes tcp:HOST:PORT or unix:PATH \(got "serial:\/dev\/ttyS0"\)\n$/);
    const wait = await runCli(['run', '--accel', 'emu', '--gdb-wait']);
    assert.equal(wait.status, 64);
    assert.match(wait.stderr, /^tsvmm: --gdb-wait needs --gdb/);
    const port = await runCli(['run', '--accel', 'emu', '--gdb', 'tcp:127.0.0.1:70000']);
    assert.equal(port.status, 64);
    assert.match(port.stderr, /port 70000 is outside 0-65535/);
    const sockPath = join(dir, 'gdb.sock');
    const unix = await runCli(['run', '--accel', 'emu', '--kernel', guestPath('hello'), '--serial', 'none', '--gdb', `unix:${sockPath}`]);
    assert.equal(unix.status, 1, unix.stderr); // hello's debug-exit 0
    assert.match(unix.stderr, new RegExp(`gdb stub on unix:${sockPath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
