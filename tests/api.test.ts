/**
 * The control API with real clients: curl with the requests of Firecracker's getting-started guide,
 * and node:http for every kind of bad request and a few hundred connections at once while a guest
 * runs. Every response is checked against src/api/openapi.json (tests/api-client.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Agent } from 'node:http';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { guestPath, repoRoot, tsvmmBin } from './guest-runner.js';
import { curl, noCurl, startTsvmm, type TsvmmApi } from './api-client.js';
import { checkResponse } from '../src/api/openapi.js';
import { endlessTickerOutput } from '../src/vmm/ticker.test-util.js';
import { until as pollUntil } from '../src/util/until.test-util.js';

const TICKER = guestPath('ticker');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const until = (cond: () => boolean, what: string, ms = 30_000): Promise<void> => pollUntil(cond, what, ms, 10);

test("Firecracker's getting-started requests through curl: configure, start, pause, resume, Ctrl+Alt+Del", { skip: noCurl, timeout: 120_000 }, async () => {
  const t = await startTsvmm('api', ['--accel', 'emu'], { serialFile: true });
  try {
    const s = t.socket;
    assert.equal(statSync(s).mode & 0o777, 0o600, 'the socket is its owner\'s only');
    const logFile = join(t.dir, 'fc.log');
    const metricsFile = join(t.dir, 'metrics.json');
    writeFileSync(logFile, '');
    // As in Firecracker's docs/getting-started.md; the rootfs is a raw image the ticker guest leaves alone.
    writeFileSync(join(t.dir, 'rootfs.ext4'), new Uint8Array(1 << 20));
    assert.equal(curl(s, ['-X', 'PUT', '--data', JSON.stringify({ log_path: logFile, level: 'Debug', show_level: true, show_log_origin: true }), 'http://localhost/logger']).status, 204);
    assert.equal(curl(s, ['-X', 'PUT', 'http://localhost/machine-config', '-H', 'Accept: application/json', '-H', 'Content-Type: application/json', '-d', '{"vcpu_count": 2, "mem_size_mib": 1024}']).status, 204);
    const boot = curl(s, ['-X', 'PUT', '--data', `{\n        "kernel_image_path": "${TICKER}",\n        "boot_args": "console=ttyS0 reboot=k panic=1 pci=off"\n    }`, 'http://localhost/boot-source']);
    assert.equal(boot.status, 204);
    const missing = curl(s, ['-X', 'PUT', '--data', '{\n        "drive_id": "rootfs",\n        "path_on_host": "/nonexistent/rootfs.ext4",\n        "is_root_device": true,\n        "is_read_only": false\n    }', 'http://localhost/drives/rootfs']);
    assert.equal(missing.status, 400);
    assert.match(missing.body, /drive rootfs \/nonexistent\/rootfs\.ext4: no such file/);
    assert.match(missing.head, /content-type: application\/json/i);
    const drive = curl(s, ['-X', 'PUT', '--data', `{\n        "drive_id": "rootfs",\n        "path_on_host": "${join(t.dir, 'rootfs.ext4')}",\n        "is_root_device": true,\n        "is_read_only": false\n    }`, 'http://localhost/drives/rootfs']);
    assert.equal(drive.status, 204, drive.body);
    const mismatch = curl(s, ['-X', 'PUT', '--data', '{"drive_id": "other", "path_on_host": "/x", "is_root_device": false}', 'http://localhost/drives/rootfs']);
    assert.match(mismatch.body, /drive_id in the body \(\\"other\\"\) differs from the one in the path \(\\"rootfs\\"\)/);
    const badNet = curl(s, ['-X', 'PUT', '--data', '{"iface_id": "eth0", "guest_mac": "06:00:AC:10:00:02", "host_dev_name": "not/a/tap"}', 'http://localhost/network-interfaces/eth0']);
    assert.equal(badNet.status, 400);
    assert.match(badNet.body, /neither a TAP interface name/);
    assert.equal(curl(s, ['-X', 'PUT', '--data', '{}', 'http://localhost/entropy']).status, 204);
    assert.equal(curl(s, ['-X', 'PUT', '-d', `{"metrics_path": "${metricsFile}"}`, 'http://localhost/metrics']).status, 204);
    const load = curl(s, ['-X', 'PUT', '-d', '{"snapshot_path": "./snapshot_file", "mem_backend": {"backend_path": "./mem_file", "backend_type": "File"}, "resume_vm": true}', 'http://localhost/snapshot/load']);
    assert.equal(load.status, 400);
    assert.match(load.body, /snapshot_file: cannot be read \(no such file\)/);
    const features = JSON.parse(curl(s, ['http://localhost/features']).body) as { backend: string; features: { name: string; mode: string | null }[] };
    assert.equal(features.backend, 'emu');
    assert.ok(features.features.some((f) => f.name === 'pmu' && f.mode === 'emulated'));
    const cfg = JSON.parse(curl(s, ['http://localhost/vm/config']).body) as Record<string, Record<string, unknown>>;
    assert.deepEqual(cfg['machine-config'], { vcpu_count: 2, mem_size_mib: 1024, smt: false, track_dirty_pages: false, huge_pages: 'None' });
    assert.deepEqual(cfg['boot-source'], { kernel_image_path: TICKER, boot_args: 'console=ttyS0 reboot=k panic=1 pci=off' });
    assert.deepEqual(cfg['metrics'], { metrics_path: metricsFile });
    assert.deepEqual(cfg['drives'], [{ drive_id: 'rootfs', path_on_host: join(t.dir, 'rootfs.ext4'), is_root_device: false, is_read_only: false }]);
    assert.deepEqual(cfg['entropy'], {});

    assert.equal(curl(s, ['-X', 'PUT', '--data', '{\n        "action_type": "InstanceStart"\n    }', 'http://localhost/actions']).status, 204);
    await until(() => t.serial().includes('tick 3 '), 'the guest printing');
    assert.equal(JSON.parse(curl(s, ['http://localhost/']).body).state, 'Running');
    assert.equal(curl(s, ['-X', 'PATCH', 'http://localhost/vm', '-H', 'Accept: application/json', '-H', 'Content-Type: application/json', '-d', '{"state": "Paused"}']).status, 204);
    assert.equal(JSON.parse(curl(s, ['http://localhost/']).body).state, 'Paused');
    const frozen = t.serial().length;
    await sleep(300);
    assert.equal(t.serial().length, frozen, 'a paused guest prints nothing');
    const snapFile = join(t.dir, 'snapshot_file');
    const memFile = join(t.dir, 'mem_file');
    const create = curl(s, ['-X', 'PUT', '-d', `{"snapshot_type": "Full", "snapshot_path": "${snapFile}", "mem_file_path": "${memFile}"}`, 'http://localhost/snapshot/create']);
    assert.equal(create.status, 204, create.body);
    assert.equal(statSync(memFile).size, 1024 << 20, 'the memory file is the guest RAM image');
    const diff = curl(s, ['-X', 'PUT', '-d', `{"snapshot_type": "Diff", "snapshot_path": "${snapFile}.diff"}`, 'http://localhost/snapshot/create']);
    assert.equal(diff.status, 400);
    assert.match(JSON.parse(diff.body).fault_message, /track_dirty_pages/);
    assert.equal(curl(s, ['-X', 'PUT', '-d', '{"action_type": "FlushMetrics"}', 'http://localhost/actions']).status, 204);
    assert.equal(curl(s, ['-X', 'PATCH', 'http://localhost/vm', '-d', '{"state": "Resumed"}']).status, 204);
    await until(() => t.serial().length > frozen + 30, 'the resumed guest printing');
    assert.equal(curl(s, ['-X', 'PUT', 'http://localhost/actions', '-d', '{ "action_type": "SendCtrlAltDel" }']).status, 204);
    const end = await t.exited;
    assert.equal(end.status, 0, `the guest's reset ends tsvmm with 0; stderr: ${t.stderr()}`);
    assert.match(t.serial(), /ticker: ctrl-alt-del, resetting through the i8042\r\n$/);
    assert.match(t.stderr(), /guest requested a reset \(i8042\)/);
    assert.equal(existsSync(s), false, 'the socket is removed at the end');
    const log = readFileSync(logFile, 'utf8');
    assert.match(log, /api: PUT \/actions/, 'debug-level log lines reach the log file');
    const metrics = readFileSync(metricsFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { state: string });
    assert.deepEqual(metrics.map((m) => m.state), ['Paused', 'Stopped'], 'one line per FlushMetrics, one at the stop');
  } finally {
    await t.cleanup();
  }
});

/** Requests that must each be refused with 400 and a fault message matching the pattern. */
const BAD_REQUESTS: readonly { what: string; method: string; url: string; body?: unknown; headers?: Record<string, string | number>; fault: RegExp }[] = [
  { what: 'unknown field', method: 'PUT', url: '/machine-config', body: { vcpu_count: 2, mem_size_mib: 64, foo: 1 }, fault: /unknown field `foo`, expected one of `vcpu_count`/ },
  { what: 'wrong type', method: 'PUT', url: '/machine-config', body: { vcpu_count: '2', mem_size_mib: 64 }, fault: /field `vcpu_count`: invalid type: string "2", expected an integer/ },
  { what: 'out of range', method: 'PATCH', url: '/machine-config', body: { vcpu_count: 0 }, fault: /field `vcpu_count`: 0 is out of range \(1 to 64\)/ },
  { what: 'missing field', method: 'PUT', url: '/boot-source', body: {}, fault: /missing field `kernel_image_path`/ },
  { what: 'unknown enum value', method: 'PUT', url: '/actions', body: { action_type: 'Reboot' }, fault: /field `action_type`: unknown variant `Reboot`, expected one of `FlushMetrics`, `InstanceStart`, `SendCtrlAltDel`/ },
  { what: 'unknown VM state', method: 'PATCH', url: '/vm', body: { state: 'Stopped' }, fault: /unknown variant `Stopped`, expected one of `Paused`, `Resumed`/ },
  { what: 'nested field', method: 'PUT', url: '/snapshot/load', body: { snapshot_path: 's', mem_backend: { backend_type: 'Disk', backend_path: 'm' } }, fault: /field `mem_backend.backend_type`: unknown variant `Disk`/ },
  { what: 'empty path', method: 'PUT', url: '/metrics', body: { metrics_path: '' }, fault: /field `metrics_path`: must not be empty/ },
  { what: 'logger level', method: 'PUT', url: '/logger', body: { level: 'Loud' }, fault: /field `level`: unknown variant `Loud`/ },
  { what: 'malformed JSON', method: 'PUT', url: '/actions', body: '{"action_type": ', fault: /^An error occurred when deserializing the json body of a request: .*JSON/ },
  { what: 'not an object', method: 'PUT', url: '/actions', body: '[1, 2]', fault: /invalid type: a list, expected a JSON object/ },
  { what: 'oversized body', method: 'PUT', url: '/boot-source', body: JSON.stringify({ kernel_image_path: 'x'.repeat(60_000) }), fault: /larger than the limit of 51200 bytes/ },
  { what: 'start while running', method: 'PUT', url: '/actions', body: { action_type: 'InstanceStart' }, fault: /cannot start the VM: the VM is running/ },
  { what: 'configure while running', method: 'PUT', url: '/machine-config', body: { vcpu_count: 1, mem_size_mib: 64 }, fault: /cannot change the machine configuration: the VM has started/ },
  { what: 'boot source while running', method: 'PUT', url: '/boot-source', body: { kernel_image_path: '/etc/hostname' }, fault: /cannot change the boot source/ },
  { what: 'snapshot while running', method: 'PUT', url: '/snapshot/create', body: { snapshot_path: 's', mem_file_path: 'm' }, fault: /cannot create a snapshot: the VM is running \(possible when it is Paused\)/ },
  { what: 'load after start', method: 'PUT', url: '/snapshot/load', body: { snapshot_path: 's' }, fault: /cannot load a snapshot: the VM is running/ },
  { what: 'flush without metrics', method: 'PUT', url: '/actions', body: { action_type: 'FlushMetrics' }, fault: /metrics are not configured/ },
  { what: 'unknown path', method: 'GET', url: '/nope', fault: /^Invalid request method and\/or path: GET nope\.$/ },
  { what: 'unknown method', method: 'POST', url: '/actions', body: { action_type: 'InstanceStart' }, fault: /^Invalid request method and\/or path: POST actions\.$/ },
  { what: 'DELETE', method: 'DELETE', url: '/', fault: /^Invalid request method and\/or path: DELETE \/\.$/ },
  { what: 'GET with a body', method: 'GET', url: '/', body: { a: 1 }, fault: /^GET request cannot have a body\.$/ },
  { what: 'empty PUT', method: 'PUT', url: '/actions', fault: /^Empty PUT request\.$/ },
  { what: 'empty PATCH', method: 'PATCH', url: '/vm', fault: /^Empty PATCH request\.$/ },
  { what: 'at_instruction to resume', method: 'PATCH', url: '/vm', body: { state: 'Resumed', at_instruction: 5 }, fault: /at_instruction goes with "state": "Paused"/ },
  { what: 'at_instruction already passed', method: 'PATCH', url: '/vm', body: { state: 'Paused', at_instruction: 1 }, fault: /instructions have already retired/ },
  { what: 'negative at_instruction', method: 'PATCH', url: '/vm', body: { state: 'Paused', at_instruction: -1 }, fault: /field `at_instruction`: -1 is out of range/ },
  { what: 'a drive after start', method: 'PUT', url: '/drives/rootfs', body: { drive_id: 'rootfs', path_on_host: '/x', is_root_device: true, is_read_only: false }, fault: /cannot add a drive: the VM has started/ },
  { what: 'a network backend that is neither TAP nor stream', method: 'PUT', url: '/network-interfaces/eth0', body: { iface_id: 'eth0', host_dev_name: 'tcp:1.2.3.4:5' }, fault: /neither a TAP interface name/ },
  { what: 'a stream interface after start', method: 'PUT', url: '/network-interfaces/eth0', body: { iface_id: 'eth0', host_dev_name: 'stream:listen=/tmp/x.sock' }, fault: /cannot add a network interface: the VM has started/ },
  { what: 'a bad MAC', method: 'PUT', url: '/network-interfaces/eth0', body: { iface_id: 'eth0', host_dev_name: 'stream:listen=/tmp/x.sock', guest_mac: '06:00' }, fault: /guest_mac/ },
];

const WORK = 20000;

async function assertRefused(t: TsvmmApi, r: (typeof BAD_REQUESTS)[number], agent?: Agent): Promise<void> {
  const res = await t.send(r.method, r.url, { ...(r.body !== undefined ? { body: r.body } : {}), ...(r.headers ? { headers: r.headers } : {}), ...(agent ? { agent } : {}) });
  assert.equal(res.status, 400, `${r.what}: ${res.body}`);
  assert.match(res.json<{ fault_message: string }>().fault_message, r.fault, r.what);
}

test('bad requests get 400 naming the field, hundreds of connections at once are served, and the running guest is unaffected', { timeout: 300_000 }, async () => {
  const t = await startTsvmm('run', ['--kernel', TICKER, '--cmdline', `lines=0 work=${WORK}`, '--accel', 'emu', '--deterministic', '--mem', '32M']);
  try {
    await until(() => t.stdout().includes('tick 2 '), 'the guest running');
    for (const r of BAD_REQUESTS) await assertRefused(t, r);

    // A body sent in chunks without a length is cut off at the limit too.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const sock = connect(t.socket);
      let data = '';
      sock.on('data', (d) => (data += d.toString()));
      sock.on('close', () => {
        const [head, body] = data.split('\r\n\r\n');
        resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(head ?? '')?.[1]), body: body ?? '' });
      });
      sock.on('error', reject);
      sock.write('PUT /boot-source HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n');
      const chunk = 'a'.repeat(8000);
      for (let i = 0; i < 8; i++) sock.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      sock.end('0\r\n\r\n');
    });
    assert.equal(chunked.status, 400);
    assert.match(chunked.body, /larger than the limit of 51200 bytes/);
    assert.equal(checkResponse('PUT', '/boot-source', chunked.status, chunked.body), undefined);

    // Not HTTP at all: a 400 with a fault message, then the connection closes.
    const garbage = await new Promise<string>((resolve, reject) => {
      const sock = connect(t.socket);
      let data = '';
      sock.on('data', (d) => (data += d.toString()));
      sock.on('close', () => resolve(data));
      sock.on('error', reject);
      sock.write('HELLO THERE\r\n\r\n');
    });
    assert.match(garbage, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.equal(checkResponse('GET', undefined, 400, garbage.split('\r\n\r\n')[1]!), undefined);

    // 300 connections at once, each its own socket: reads and refusals mixed.
    const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
    const t0 = Date.now();
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => {
        if (i % 3 === 0) return t.send('GET', '/', { agent }).then((r) => assert.equal(r.json<{ state: string }>().state, 'Running'));
        if (i % 3 === 1) return t.send('GET', '/stats', { agent }).then((r) => assert.ok(r.json<{ instructions: number }>().instructions > 0));
        return assertRefused(t, BAD_REQUESTS[i % BAD_REQUESTS.length]!, agent);
      }),
    );
    assert.equal(results.length, 300);
    const ms = Date.now() - t0;
    assert.equal((await t.send('GET', '/')).json<{ state: string }>().state, 'Running', `the guest still runs after every request (300 took ${ms} ms)`);

    // The guest's output so far is exactly the ticker's arithmetic (a pure function of its steps).
    assert.equal((await t.send('PATCH', '/vm', { body: { state: 'Paused' } })).status, 204);
    // tsvmm's at_instruction: from the pause, on to exactly that many instructions retired.
    const at = (await t.send('GET', '/stats')).json<{ instructions: number }>().instructions + 250_000;
    assert.equal((await t.send('PATCH', '/vm', { body: { state: 'Paused', at_instruction: at } })).status, 204);
    assert.equal((await t.send('GET', '/stats')).json<{ instructions: number }>().instructions, at);
    assert.equal((await t.send('GET', '/')).json<{ state: string }>().state, 'Paused');
    await sleep(300); // what the guest wrote before the pause may still be on its way through the pipe
    const out = t.stdout();
    const ticks = out.split('\r\n').filter((l) => l.startsWith('tick ')).length;
    assert.ok(ticks >= 2, `${ticks} lines`);
    // A pause at an exact instruction count can fall while the guest prints a line (a byte at a time): then its
    // last line is cut where the pause came (one line more is made, to cover a cut before "tick "), and
    // everything printed is the undisturbed run's output, byte for byte.
    assert.equal(out, endlessTickerOutput(ticks + 1, WORK).slice(0, out.length), 'the guest printed exactly what an undisturbed run prints');
    assert.equal((await t.send('PATCH', '/vm', { body: { state: 'Resumed' } })).status, 204);
    assert.equal((await t.send('PUT', '/actions', { body: { action_type: 'SendCtrlAltDel' } })).status, 204);
    const end = await t.exited;
    assert.equal(end.status, 0, `the guest's reset; stderr: ${t.stderr()}`);
    assert.match(t.stdout(), /\r\nticker: ctrl-alt-del, resetting through the i8042\r\n$/);
    assert.equal(t.stderr(), 'tsvmm: guest requested a reset (i8042); tsvmm stops the VM instead of rebooting\n', 'no other complaint on stderr');
  } finally {
    await t.cleanup();
  }
});

test('--api-sock refuses a path that exists, and tsvmm api needs one', { timeout: 60_000 }, () => {
  const dir = join(repoRoot, 'package.json');
  const r = spawnSync(process.execPath, [tsvmmBin, 'run', '--api-sock', dir, '--kernel', TICKER, '--accel', 'emu'], { encoding: 'utf8' });
  assert.equal(r.status, 64);
  assert.equal(r.stderr, `tsvmm: --api-sock ${dir}: already exists (another VMM may serve it; remove it if not)\n`);
  const a = spawnSync(process.execPath, [tsvmmBin, 'api', '--accel', 'emu'], { encoding: 'utf8' });
  assert.equal(a.status, 64);
  assert.equal(a.stderr, 'tsvmm: tsvmm api needs --api-sock PATH (the Unix socket to serve the API on)\n');
});

test('tsvmm api ends by SIGTERM when nobody starts the VM, and removes its socket', { timeout: 60_000 }, async () => {
  const t = await startTsvmm('api', ['--accel', 'emu']);
  try {
    t.child.kill('SIGTERM');
    const end = await t.exited;
    assert.equal(end.signal, 'SIGTERM');
    assert.equal(existsSync(t.socket), false);
  } finally {
    await t.cleanup();
  }
});
