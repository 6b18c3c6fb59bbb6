import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GdbServer, type EndableTarget } from './gdb-server.js';

/** Just enough of a target for the first packets gdb sends. */
function fakeTarget(): EndableTarget {
  return { threadCount: 1, reverseRefusal: 'no', onStop: () => undefined, vmEnded: () => undefined, detach: () => undefined } as unknown as EndableTarget;
}

function packet(body: string): string {
  let sum = 0;
  for (const ch of body) sum = (sum + ch.charCodeAt(0)) & 0xff;
  return `$${body}#${sum.toString(16).padStart(2, '0')}`;
}

/** Connects; resolves with the socket or the connection error's code. */
function dial(port: number): Promise<Socket | string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

test('the stub refuses connections while the VM is being built and answers at once when it exists', async () => {
  const server = new GdbServer({ kind: 'tcp', host: '127.0.0.1', port: 0 }, () => undefined);
  await server.listen();
  const a = server.boundAddress();
  assert.ok(a.kind === 'tcp' && a.port > 0, 'port 0 picked a port');
  const port = a.kind === 'tcp' ? a.port : 0;
  // Before attach (the VM is being built, the event loop may be busy for seconds): refused, so gdb retries
  // instead of sending packets nobody answers.
  assert.equal(await dial(port), 'ECONNREFUSED');
  await server.attach(fakeTarget(), { pause: () => Promise.resolve() });
  const s = await dial(port);
  assert.ok(typeof s !== 'string', `connected (${String(s)})`);
  const reply = await new Promise<string>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no reply to qSupported in 2 s (gdb's remote timeout): ${text}`)), 2000);
    s.on('data', (d: Buffer) => {
      text += d.toString();
      if (/#[0-9a-f]{2}$/.test(text)) {
        clearTimeout(timer);
        resolve(text);
      }
    });
    s.write(packet('qSupported:xmlRegisters=i386'));
  });
  assert.match(reply, /^\+\$PacketSize=/);
  s.destroy();
  await server.close();
});

test('a unix socket path exists only while the stub takes connections', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-gdb-'));
  try {
    const path = join(dir, 'gdb.sock');
    const server = new GdbServer({ kind: 'unix', path }, () => undefined);
    await server.listen();
    assert.equal(existsSync(path), false, 'checked and released');
    await server.attach(fakeTarget(), { pause: () => Promise.resolve() });
    assert.equal(existsSync(path), true);
    await server.close();
    assert.equal(existsSync(path), false);
    const again = new GdbServer({ kind: 'unix', path: dir }, () => undefined);
    await assert.rejects(again.listen(), /the path exists already/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
