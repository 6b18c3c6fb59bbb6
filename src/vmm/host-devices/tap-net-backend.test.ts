import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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

// Refusals carry the TAP's own reasons; the hints of src/sys for /dev/kvm (its module, the kvm group) would mislead.
const noSetpriv = process.getuid?.() !== 0 ? 'needs root (to run the probe as nobody and without CAP_NET_ADMIN)' : !existsSync('/usr/bin/setpriv') ? 'no /usr/bin/setpriv' : !existsSync('/dev/net/tun') ? 'no /dev/net/tun' : false;

test('TAP backend: without the rights, the refusal says what TAP needs and nothing about kvm', { skip: noSetpriv, timeout: 20_000 }, () => {
  const probe = `import(${JSON.stringify(new URL('./tap-net-backend.js', import.meta.url).href)}).then((m) => { try { new m.TapNetBackend('tsvmmnocap0').close(); console.log('opened'); } catch (e) { console.log(e.message); } })`;
  const as = (setpriv: string[]): string => spawnSync('/usr/bin/setpriv', [...setpriv, process.execPath, '-e', probe], { encoding: 'utf8' }).stdout.trim();
  // Root without CAP_NET_ADMIN opens /dev/net/tun (root owns it) but may not create an interface.
  const noCap = as(['--bounding-set=-net_admin', '--inh-caps=-net_admin']);
  assert.match(noCap, /^Cannot attach to TAP interface tsvmmnocap0: not permitted \(creating it needs CAP_NET_ADMIN; or make it for this user first: ip tuntap add dev tsvmmnocap0 mode tap user USER\)$/);
  const nobody = as(['--reuid=65534', '--regid=65534', '--clear-groups']);
  // /dev/net/tun is often 0666: then nobody gets as far as the interface.
  assert.match(nobody, /^Cannot (open \/dev\/net\/tun: permission denied \(TAP needs root, or CAP_NET_ADMIN and access to \/dev\/net\/tun\)|attach to TAP interface tsvmmnocap0: not permitted \(creating it needs CAP_NET_ADMIN)/);
  for (const m of [noCap, nobody]) assert.doesNotMatch(m, /kvm/);
});
