/** Bad input gets one clear line and a distinct status, never a stack trace or a hang. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { runCli, guestPath, tsvmmBin } from './guest-runner.js';
import { writeTiny } from './tiny-kernels.js';
import { KVM_DEVICE_PATH, kvmGuestPmuMissing, kvmMissing, notRoot } from '../src/cpu/kvm/host-requirements.test-util.js';
import { buildBzImage } from '../src/boot/testing/images.js';

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-cli-'));
const garbage = join(dir, 'garbage.bin');
writeFileSync(garbage, Buffer.from('this is not a kernel at all, just some text\n'.repeat(300)));
const truncated = join(dir, 'truncated.elf');
writeFileSync(truncated, readFileSync(guestPath('hello')).subarray(0, 200));
const apicKernel = writeTiny(join(dir, 'apic.elf'), [0xf4], 0xfee00000);
const zeroBody = join(dir, 'zeros.bzImage');
const zeros = buildBzImage({ kernelBytes: 0x100000 });
zeros.fill(0, (zeros[0x1f1]! + 1) * 512);
writeFileSync(zeroBody, zeros);
const truncatedBig = join(dir, 'big.img');
writeFileSync(truncatedBig, new Uint8Array(5 * 1024 * 1024));
const disk = join(dir, 'disk.img');
writeFileSync(disk, new Uint8Array(64 * 1024));
const fifo = join(dir, 'kernel.fifo');
spawnSync('mkfifo', [fifo]);

const cases: { name: string; args: string[]; status: number; message: RegExp }[] = [
  { name: 'missing kernel', args: ['run', '--kernel', join(dir, 'nope.elf'), '--accel', 'emu'], status: 66, message: /nope\.elf: no such file/ },
  { name: 'not a kernel', args: ['run', '--kernel', garbage, '--accel', 'emu'], status: 66, message: /garbage\.bin/ },
  { name: 'truncated kernel', args: ['run', '--kernel', truncated, '--accel', 'emu'], status: 66, message: /truncated\.elf/ },
  { name: '--mem not a size', args: ['run', '--mem', 'lots'], status: 64, message: /--mem "lots" is not a size/ },
  { name: '--mem too small', args: ['run', '--mem', '1M'], status: 64, message: /too small/ },
  { name: '--cpus 0', args: ['run', '--cpus', '0'], status: 64, message: /--cpus 0 is out of range/ },
  { name: 'unknown accel', args: ['run', '--accel', 'tcg'], status: 64, message: /--accel "tcg"/ },
  { name: 'unknown flag', args: ['run', '--frobnicate'], status: 64, message: /frobnicate/ },
  { name: 'unknown command', args: ['launch'], status: 64, message: /unknown command "launch"/ },
  { name: 'bad serial', args: ['run', '--serial', 'pty'], status: 64, message: /--serial "pty"/ },
  { name: '--mem -5', args: ['run', '--mem', '-5'], status: 64, message: /^tsvmm: --mem "-5" is not a size/ },
  { name: '--cpus -1', args: ['run', '--cpus', '-1'], status: 64, message: /^tsvmm: --cpus "-1" is not a number/ },
  { name: '--pmu-fixed -1', args: ['run', '--pmu-fixed', '-1'], status: 64, message: /^tsvmm: --pmu-fixed "-1" must be a whole number from 0 to 3/ },
  { name: '--mem=-5', args: ['run', '--mem=-5'], status: 64, message: /^tsvmm: --mem "-5" is not a size/ },
  { name: 'option without its value', args: ['run', '--kernel'], status: 64, message: /^tsvmm: --kernel needs a value \(FILE\)$/m },
  { name: 'flag given a value', args: ['run', '--deterministic=yes'], status: 64, message: /^tsvmm: --deterministic takes no value/ },
  { name: 'misspelt option', args: ['run', '--memory', '1G'], status: 64, message: /^tsvmm: unknown option --memory for tsvmm run \(did you mean --mem\? see tsvmm help\)$/m },
  { name: 'unknown short option', args: ['run', '-x'], status: 64, message: /^tsvmm: unknown option -x for tsvmm run/ },
  { name: 'two kernels', args: ['run', 'a.elf', 'b.elf'], status: 64, message: /unexpected kernel "b\.elf"/ },
  { name: 'caps takes no kernel', args: ['caps', 'a.elf'], status: 64, message: /tsvmm caps takes no arguments/ },
  { name: 'record -o into a missing directory', args: ['record', '-o', join(dir, 'no/such/dir/out.folded'), '--', '--kernel', guestPath('hello'), '--accel', 'emu'], status: 64, message: /-o .*no\/such\/dir\/out\.folded: cannot write the folded stacks there \(its directory does not exist\)/ },
  { name: 'record --every 0', args: ['record', '--every', '0', '--kernel', guestPath('hello')], status: 64, message: /--every "0" must be a whole number from 1/ },
  { name: 'record --top x', args: ['record', '--top', 'x', '--', '--kernel', guestPath('hello')], status: 64, message: /--top "x" must be a whole number/ },
  { name: 'record -o without a file', args: ['record', '-o'], status: 64, message: /-o needs a value/ },
  { name: 'stat with an unknown own option', args: ['stat', '--jsn', '--', '--kernel', guestPath('hello')], status: 64, message: /unknown option --jsn for tsvmm stat \(did you mean --json/ },
  { name: 'kernel linked in the APIC page', args: ['run', '--kernel', apicKernel, '--accel', 'emu'], status: 66, message: /apic\.elf: kernel image .*at 0xfee00000-0x[0-9a-f]+ is not RAM in the guest's map: .*local APIC page/ },
  { name: 'kernel linked in the APIC page, with 4080M', args: ['run', '--kernel', apicKernel, '--accel', 'emu', '--mem', '4080M'], status: 66, message: /is not RAM in the guest's map/ },
  { name: 'bzImage whose kernel is all zeros', args: ['run', '--kernel', zeroBody, '--accel', 'emu'], status: 66, message: /zeros\.bzImage: the protected-mode kernel \(1 MiB after the setup sectors\) is all zeros/ },
  { name: 'kernel /dev/zero', args: ['run', '--kernel', '/dev/zero', '--accel', 'emu'], status: 66, message: /^tsvmm: kernel \/dev\/zero: is not a regular file/ },
  { name: 'initrd /dev/urandom', args: ['run', '--kernel', guestPath('hello'), '--initrd', '/dev/urandom', '--accel', 'emu'], status: 66, message: /^tsvmm: initrd \/dev\/urandom: is not a regular file/ },
  { name: '--pmu-filter /dev/zero', args: ['run', '--pmu-filter', '/dev/zero', '--accel', 'emu'], status: 64, message: /^tsvmm: --pmu-filter \/dev\/zero: is not a regular file/ },
  { name: 'kernel a FIFO nobody writes', args: ['run', '--kernel', fifo, '--accel', 'emu'], status: 66, message: /kernel\.fifo: is not a regular file/ },
  { name: 'initrd larger than guest RAM', args: ['run', '--kernel', guestPath('hello'), '--initrd', truncatedBig, '--mem', '4M', '--accel', 'emu'], status: 66, message: /initrd .*big\.img: is 5 MiB, more than the guest's RAM \(4 MiB\)/ },
  // virtio devices and their host ends; none of these is about /dev/kvm, so no line may point there.
  { name: '--drive on a missing image', args: ['run', '--drive', join(dir, 'nope.img'), '--kernel', guestPath('hello'), '--accel', 'emu'], status: 66, message: /^tsvmm: --drive .*nope\.img: cannot open the image: no such file$/m },
  { name: '--drive with an unknown option', args: ['run', '--drive', `${disk},cache=none`, '--kernel', guestPath('hello'), '--accel', 'emu'], status: 64, message: /"cache=none" is not understood \(use ro or serial=S\)/ },
  { name: '--net of an unknown kind', args: ['run', '--net', 'udp:1.2.3.4:5', '--kernel', guestPath('hello'), '--accel', 'emu'], status: 64, message: /--net "udp:1\.2\.3\.4:5" is not understood: use stream:listen=PATH/ },
  { name: '--virtio-console to nowhere known', args: ['run', '--virtio-console', 'pty', '--kernel', guestPath('hello'), '--accel', 'emu'], status: 64, message: /--virtio-console "pty" is not understood/ },
  { name: '--vhost-user-blk on a socket that does not exist', args: ['run', '--vhost-user-blk', join(dir, 'nope.sock'), '--kernel', guestPath('hello'), '--accel', 'emu'], status: 64, message: /^tsvmm: --vhost-user-blk .*nope\.sock: cannot connect to the back-end: No such file or directory \(ENOENT\)$/m },
  { name: 'device vhost-user-blk on a missing image', args: ['device', 'vhost-user-blk', '--socket', join(dir, 'be.sock'), '--image', join(dir, 'nope.img')], status: 66, message: /^tsvmm: --image .*nope\.img: cannot open the image: no such file$/m },
  { name: 'device vhost-user-blk --serial too long', args: ['device', 'vhost-user-blk', '--socket', join(dir, 'be.sock'), '--image', disk, '--serial', 'S'.repeat(21)], status: 64, message: /^tsvmm: --serial "S{21}" must be 1-20 printable ASCII characters$/m },
  { name: 'device vhost-user-blk --socket in a missing directory', args: ['device', 'vhost-user-blk', '--socket', join(dir, 'no/such/dir/be.sock'), '--image', disk], status: 64, message: /^tsvmm: --socket .*no\/such\/dir\/be\.sock: cannot listen there: No such file or directory \(ENOENT\)$/m },
  { name: '--serial into a missing directory', args: ['run', '--serial', `file:${join(dir, 'no/such/dir')}`, '--kernel', guestPath('hello'), '--accel', 'emu'], status: 2, message: /--serial file:.*no\/such\/dir: cannot open for writing \(ENOENT\)/ },
];

for (const c of cases) {
  test(`cli: ${c.name}`, async () => {
    const r = await runCli(c.args, { timeoutMs: 20_000 });
    assert.equal(r.timedOut, false);
    assert.equal(r.status, c.status, `status; stderr: ${r.stderr}`);
    assert.match(r.stderr, c.message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  });
}

test('cli: --help or -h after a command prints the usage and exits 0', async () => {
  for (const args of [['run', '--help'], ['run', '--kernel', 'x.elf', '-h'], ['caps', '--help'], ['snapshot', '--help']]) {
    const r = await runCli(args, { timeoutMs: 20_000 });
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /^Usage:$/m, args.join(' '));
    assert.equal(r.stderr, '', args.join(' '));
  }
  // After `--` it is the guest's business (stat/record pass run options there), not a request for help.
  const r = await runCli(['stat', '--', '--help'], { timeoutMs: 20_000 });
  assert.equal(r.status, 64, r.stderr);
  // As an option's value it is that value: the guest boots with the command line "-h".
  const v = await runCli(['run', '--kernel', guestPath('hello'), '--accel', 'emu', '--cmdline', '-h'], { timeoutMs: 20_000 });
  assert.equal(v.stdout, 'Hello from tsvmm guest!\r\n', v.stderr);
});

// KVM first (without it the refusal is about /dev/kvm, not the PMU), then the host's vPMU.
const noKvm = kvmMissing();
const noKvmPmu = kvmGuestPmuMissing();

test('cli: --accel kvm --pmu on is refused with the host reason where KVM has no guest PMU', {
  skip: noKvm || (noKvmPmu === false && "this host's KVM has a guest PMU (kvm.enable_pmu=Y): the refusal cannot happen here"),
}, async () => {
  const r = await runCli(['run', '--kernel', guestPath('hello'), '--accel', 'kvm', '--pmu', 'on'], { timeoutMs: 20_000 });
  assert.equal(r.status, 68, r.stderr);
  assert.match(r.stderr, /--accel kvm --pmu on: this host's KVM cannot give the guest a PMU \(.*(enable_pmu|PMU).*\)/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
});

test('cli: --accel kvm --pmu on runs the guest where KVM has a guest PMU', { skip: noKvm || noKvmPmu }, async () => {
  const r = await runCli(['run', '--kernel', guestPath('hello'), '--accel', 'kvm', '--pmu', 'on'], { timeoutMs: 30_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stdout, 'Hello from tsvmm guest!\r\n');
});

test('cli: --accel kvm where KVM is unusable is refused naming /dev/kvm', { skip: noKvm === false && 'this host has a usable /dev/kvm' }, async () => {
  const r = await runCli(['run', '--kernel', guestPath('hello'), '--accel', 'kvm'], { timeoutMs: 20_000 });
  assert.equal(r.status, 68, r.stderr);
  assert.match(r.stderr, /\/dev\/kvm/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
});

test('cli: bad --pmu values name the flag', async () => {
  for (const [args, re] of [
    [['run', '--pmu', 'yes'], /--pmu "yes"/],
    [['run', '--pmu-version', '9'], /--pmu-version "9" must be a whole number from 0 to 5/],
    [['run', '--pmu-counters', 'x'], /--pmu-counters "x"/],
  ] as const) {
    const r = await runCli([...args], { timeoutMs: 20_000 });
    assert.equal(r.status, 64, r.stderr);
    assert.match(r.stderr, re);
  }
});

/** Whether an unprivileged user can run tsvmm from this checkout (its parent folders may be private). */
function nobodyCanRun(): boolean {
  if (notRoot() || !existsSync(KVM_DEVICE_PATH) || !existsSync('/usr/bin/setpriv')) return false;
  const probe = ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(tsvmmBin)})`];
  return spawnSync('/usr/bin/setpriv', probe, { stdio: 'ignore' }).status === 0;
}

test('cli: /dev/kvm not permitted is one line naming the fix, and auto falls back to the emulator', {
  skip: nobodyCanRun() ? false : 'needs root, /dev/kvm, setpriv and a checkout an unprivileged user can read',
}, async () => {
  const asNobody = (args: string[]) =>
    new Promise<{ status: number | null; stderr: string; stdout: string }>((resolve) => {
      const p = spawn('/usr/bin/setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, tsvmmBin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => (stdout += d));
      p.stderr.on('data', (d) => (stderr += d));
      p.on('close', (status) => resolve({ status, stderr, stdout }));
    });
  const kvm = await asNobody(['run', '--kernel', guestPath('hello'), '--accel', 'kvm']);
  assert.equal(kvm.status, 68, kvm.stderr);
  assert.match(kvm.stderr, /Cannot open \/dev\/kvm: permission denied \(run as root or add yourself to the kvm group\)/);
  assert.equal(kvm.stderr.trim().split('\n').length, 1);
  const auto = await asNobody(['run', '--kernel', guestPath('hello'), '-v']);
  assert.equal(auto.status, 1, auto.stderr);
  assert.match(auto.stderr, /backend emu \(auto: KVM not usable/);
});
