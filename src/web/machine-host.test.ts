// The worker side of the browser VM, driven as a page would drive it, here on Node's event loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MachineHost } from './machine-host.js';
import { ByteRing } from './byte-ring.js';
import type { FromWorker, MachineStats } from './protocol.js';

const root = join(import.meta.dirname, '..', '..', '..');
const echo = join(root, 'guests', 'build', 'echo.elf');

async function echoSession(t: { skip(m: string): void }, shared: boolean): Promise<void> {
  if (!existsSync(echo)) return t.skip(`${echo} is not built (node scripts/build-guests.mjs)`);
  const got: FromWorker[] = [];
  let text = '';
  const toPage = shared ? new ByteRing(ByteRing.allocate(1024)) : undefined;
  const toGuest = shared ? new ByteRing(ByteRing.allocate(1024)) : undefined;
  let stopped: () => void;
  const done = new Promise<void>((r) => (stopped = r));
  const host = new MachineHost((m) => {
    got.push(m);
    if (m.type === 'serial') text += new TextDecoder().decode(m.bytes);
    if (m.type === 'stopped') stopped();
  });
  const data = readFileSync(echo);
  host.handle({
    type: 'boot',
    kernel: { name: 'echo.elf', data: data.buffer.slice(data.byteOffset, data.byteOffset + data.length) },
    cmdline: '',
    memBytes: 32 << 20,
    cpus: 1,
    statsEveryMs: 20,
    ...(toPage && toGuest ? { rings: { toPage: toPage.buffer, toGuest: toGuest.buffer } } : {}),
  });
  const drain = (): void => {
    if (toPage) text += new TextDecoder().decode(toPage.read());
  };
  // Wait for the banner, then type.
  for (let i = 0; i < 400 && !text.includes('ready'); i++) {
    await new Promise((r) => setTimeout(r, 10));
    drain();
  }
  assert.match(text, /echo: ready/);
  const keys = new TextEncoder().encode('hello\nquit\n');
  if (toGuest) toGuest.write(keys);
  else host.handle({ type: 'input', bytes: keys });
  const timeout = setTimeout(() => stopped(), 20_000);
  await done;
  clearTimeout(timeout);
  drain();
  assert.match(text, /hello\nquit\n\r\necho: 6 bytes/);
  const stop = got.find((m) => m.type === 'stopped');
  assert.ok(stop && stop.type === 'stopped' && stop.stop.kind === 'debug-exit', JSON.stringify(stop));
  const stats = got.filter((m): m is { type: 'stats'; stats: MachineStats } => m.type === 'stats').at(-1)!.stats;
  assert.equal(stats.state, 'stopped');
  assert.equal(stats.console, shared ? 'shared-memory' : 'messages');
  assert.ok(stats.instructions > 1000 && (stats.exits['io'] ?? 0) > 10, JSON.stringify(stats.exits));
  assert.equal(stats.pmu.length, 1);
  assert.equal(stats.pmu[0]!.fixed.length, 3);
  // Shared memory: the output came through the ring, not as messages.
  assert.equal(got.some((m) => m.type === 'serial'), !shared);
  host.dispose();
}

test('echo guest over messages: output, typed keys reach the guest, its stop and figures', (t) => echoSession(t, false));
test('echo guest over the SharedArrayBuffer rings', (t) => echoSession(t, true));

test('a bad kernel is an error message, not an exception', () => {
  const got: FromWorker[] = [];
  const host = new MachineHost((m) => got.push(m));
  host.handle({ type: 'boot', kernel: { name: 'junk.bin', data: new Uint8Array(4096).buffer }, cmdline: '', memBytes: 32 << 20, cpus: 1 });
  assert.equal(got.length, 1);
  assert.equal(got[0]!.type, 'error');
  assert.match((got[0] as { message: string }).message, /junk\.bin/);
  host.dispose();
});
