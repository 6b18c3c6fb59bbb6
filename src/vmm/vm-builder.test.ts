import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assembleVm, describeStop } from './vm-builder.js';
import { DETERMINISTIC_RTC_BASE_MS } from './assemble.js';
import { defaultRunConfig } from './controller.js';
import { EXIT } from '../util/errors.js';

test('0 is only the guest power-off or reset; every other end is non-zero and says why', () => {
  assert.equal(describeStop({ kind: 'poweroff' }).status, 0);
  assert.equal(describeStop({ kind: 'reset', source: 'cf9' }).status, 0);
  assert.equal(describeStop({ kind: 'debug-exit', value: 0 }).status, 1);
  assert.deepEqual(describeStop({ kind: 'quit', by: 'signal', reason: 'stopped by SIGTERM', signal: 'SIGTERM' }), { status: 143, message: 'stopped by SIGTERM (exit status 143)' });
  assert.equal(describeStop({ kind: 'quit', by: 'signal', reason: 'stopped by SIGINT', signal: 'SIGINT' }).status, 130);
  assert.equal(describeStop({ kind: 'quit', by: 'signal', reason: 'stopped by SIGHUP', signal: 'SIGHUP' }).status, 129);
  assert.equal(describeStop({ kind: 'quit', by: 'console', reason: 'quit by the user (Ctrl-A x)' }).status, EXIT.USER_QUIT);
  assert.equal(describeStop({ kind: 'quit', by: 'api', reason: 'stopped through the api' }).status, EXIT.USER_QUIT);
  assert.equal(describeStop({ kind: 'host-stop', reason: 'vCPU 0 stopped' }).status, EXIT.FAILURE);
  for (const stop of [
    { kind: 'shutdown', vcpu: 0, detail: 'x' },
    { kind: 'hang', detail: 'x' },
    { kind: 'internal-error', vcpu: 0, detail: 'x' },
    { kind: 'fail-entry', vcpu: 0, detail: 'x' },
  ] as const) {
    const d = describeStop(stop);
    assert.ok(d.status !== 0 && d.status % 2 === 0 && d.message !== undefined, stop.kind);
  }
});

test('a deterministic emu VM reads no host date: its RTC starts at a fixed instant and runs on the virtual clock', async () => {
  const det = await assembleVm({ ...defaultRunConfig(), accel: 'emu', deterministic: true, memBytes: 32 << 20, serial: { kind: 'none' } }, { write() {} });
  const live = await assembleVm({ ...defaultRunConfig(), accel: 'emu', memBytes: 32 << 20, serial: { kind: 'none' } }, { write() {} });
  try {
    assert.equal(det.devices.rtc.nowMs(), DETERMINISTIC_RTC_BASE_MS, 'no instruction has run: the base itself');
    assert.ok(Math.abs(live.devices.rtc.nowMs() - Date.now()) < 60_000, 'a real-time VM reads the host date');
    // Its interrupts too: a periodic rate with PIE arms a timer on the VM clock, which the run loop fires.
    const timers = (det.vm as unknown as { chips: { timers: { nextDeadlineNs(): number } } }).chips.timers;
    assert.equal(timers.nextDeadlineNs(), Infinity);
    for (const [reg, v] of [[0x0a, 0x26], [0x0b, 0x42]]) {
      det.vm.pio.writeValue(0x70, 1, reg!);
      det.vm.pio.writeValue(0x71, 1, v!);
    }
    assert.ok(Math.abs(timers.nextDeadlineNs() - 1e9 / 1024) < 1, `the 1024 Hz tick is a VM-clock deadline (${timers.nextDeadlineNs()} ns)`);
  } finally {
    for (const a of [det, live]) {
      a.devices.destroy();
      a.vm.destroy();
    }
  }
});
