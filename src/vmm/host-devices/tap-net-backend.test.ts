import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { TapNetBackend } from './tap-net-backend.js';

/** The TAP interface, or why this host cannot give one (no /dev/net/tun, no CAP_NET_ADMIN, no `ip`). */
function openTapOrReason(name: string, hostIp: string): TapNetBackend | string {
  let tap: TapNetBackend;
  try {
    tap = new TapNetBackend(name);
  } catch (e) {
    return `TAP unusable here: ${(e as Error).message}`;
  }
  for (const args of [['addr', 'add', `${hostIp}/24`, 'dev', name], ['link', 'set', name, 'up']]) {
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    if (r.status !== 0) {
      tap.close();
      return `cannot configure ${name} with ip ${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`;
    }
  }
  return tap;
}

const NAME = `tsvmmtap${process.pid % 10000}`;
const NET = 10 + (process.pid % 200);
const HOST_IP = [10, 213, NET, 1];
const GUEST_IP = [10, 213, NET, 2];
const GUEST_MAC = [0x52, 0x54, 0x00, 0x7e, 0x01, 0x02];
const opened = openTapOrReason(NAME, HOST_IP.join('.'));
const skip = typeof opened === 'string' ? opened : false;

test('TAP backend: an ARP request sent into the host kernel gets its reply', { skip, timeout: 20_000 }, async () => {
  const tap = opened as TapNetBackend;
  try {
    const frames: Uint8Array[] = [];
    tap.onReceive((f) => frames.push(f));
    // Ethernet broadcast, ARP (htype 1, ptype IPv4, 6/4, request): who has HOST_IP? tell GUEST_IP.
    const arp = new Uint8Array([
      ...[0xff, 0xff, 0xff, 0xff, 0xff, 0xff], ...GUEST_MAC, 0x08, 0x06,
      0, 1, 8, 0, 6, 4, 0, 1, ...GUEST_MAC, ...GUEST_IP, 0, 0, 0, 0, 0, 0, ...HOST_IP,
    ]);
    const isReply = (f: Uint8Array): boolean =>
      f.length >= 42 && f[12] === 0x08 && f[13] === 0x06 && f[21] === 2 && f.subarray(28, 32).every((b, i) => b === HOST_IP[i]) && f.subarray(0, 6).every((b, i) => b === GUEST_MAC[i]);
    const t0 = Date.now();
    while (!frames.some(isReply)) {
      if (Date.now() - t0 > 10_000) assert.fail(`no ARP reply from ${HOST_IP.join('.')} on ${tap.ifname} in 10 s (${frames.length} other frames)`);
      tap.send(arp);
      await new Promise((r) => setTimeout(r, 100));
    }
    const reply = frames.find(isReply)!;
    // The reply's sender hardware address is the TAP interface's own MAC.
    assert.equal(reply.subarray(22, 28).length, 6);
    assert.deepEqual([...reply.subarray(38, 42)], GUEST_IP);
  } finally {
    tap.close();
  }
});
