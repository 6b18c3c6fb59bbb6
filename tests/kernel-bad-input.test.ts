// The bad kernel inputs issue 9 names, through the CLI: each is one line naming the file and exit status 66.
// Built from the real Debian kernel when .cache/ has it (node scripts/fetch-linux-guest.mjs), else skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { runCli } from './guest-runner.js';
import { KERNEL_DIR } from '../src/vmm/linux-guest.js';
import { decompressPayload } from '../src/boot/decompress/kernel-payload.js';

const vmlinuz = join(KERNEL_DIR, 'vmlinuz');
const skip = !existsSync(vmlinuz) && 'no .cache/debian-kernel/vmlinuz (node scripts/fetch-linux-guest.mjs fetches it)';
const dir = mkdtempSync(join(tmpdir(), 'tsvmm-badkernel-'));

function payloadSpan(img: Buffer): { start: number; len: number } {
  const setup = ((img[0x1f1] || 4) + 1) * 512;
  return { start: setup + img.readUInt32LE(0x248), len: img.readUInt32LE(0x24c) };
}

async function expect66(args: string[], message: RegExp): Promise<void> {
  const r = await runCli(['run', ...args, '--accel', 'emu', '--serial', 'none'], { timeoutMs: 120_000 });
  assert.equal(r.timedOut, false);
  assert.equal(r.status, 66, `status; stderr: ${r.stderr}`);
  assert.match(r.stderr, message);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

test('a bzImage compressed with a method tsvmm does not decompress (bzip2) is refused by name', { skip }, async () => {
  const img = readFileSync(vmlinuz);
  const { start } = payloadSpan(img);
  img.set([0x42, 0x5a, 0x68, 0x39], start); // "BZh9": a bzip2 stream
  writeFileSync(join(dir, 'bzip2.bzImage'), img);
  await expect66(['--kernel', join(dir, 'bzip2.bzImage')], /bzip2\.bzImage: the kernel is compressed with bzip2, which tsvmm cannot decompress .*--kernel-decompress guest/);
});

test('a corrupt or truncated payload is refused', { skip }, async () => {
  const img = readFileSync(vmlinuz);
  const { start, len } = payloadSpan(img);
  const corrupt = Buffer.from(img);
  for (let i = 0; i < 64; i++) corrupt[start + (len >> 1) + i * 997]! ^= 0x5a;
  writeFileSync(join(dir, 'corrupt.bzImage'), corrupt);
  await expect66(['--kernel', join(dir, 'corrupt.bzImage')], /corrupt\.bzImage: corrupt (xz|LZMA) data.*; the file is damaged or cut short: copy or download it again$/m);
  writeFileSync(join(dir, 'truncated.bzImage'), img.subarray(0, start + (len >> 1)));
  await expect66(['--kernel', join(dir, 'truncated.bzImage')], /truncated\.bzImage: truncated/);
});

test('a vmlinux for another architecture is refused with the machine it is for', { skip }, async () => {
  const img = readFileSync(vmlinuz);
  const { start, len } = payloadSpan(img);
  const elf = Buffer.from(decompressPayload(new Uint8Array(img.subarray(start, start + len))).data);
  elf.writeUInt16LE(183, 0x12); // EM_AARCH64
  writeFileSync(join(dir, 'arm64-vmlinux'), elf);
  await expect66(['--kernel', join(dir, 'arm64-vmlinux')], /arm64-vmlinux: a vmlinux for another architecture: ELF 64-bit little-endian AArch64 \(EM 183\)/);
});

test('an initrd too large for guest RAM below initrd_addr_max is refused with the sizes', { skip }, async () => {
  writeFileSync(join(dir, 'big.cpio'), Buffer.alloc(150 * 1024 * 1024));
  await expect66(['--kernel', vmlinuz, '--initrd', join(dir, 'big.cpio'), '--mem', '192M'], /initrd .*big\.cpio \(150 MiB\) is too big: it must end below 0xc000000 .*give the guest more memory with --mem/);
});
