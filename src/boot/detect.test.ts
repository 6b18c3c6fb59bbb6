import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectKernelFormat } from './detect.js';
import { assertBootError } from './testing/assert.js';
import { buildBzImage, buildElf32, multibootHeader } from './testing/images.js';

const EXPECTED = /not a kernel tsvmm can boot: expected a Linux bzImage \(boot protocol >= 2\.06\), an x86-64 vmlinux \(ELF64\) or a multiboot v1 kernel \(header in the first 8 KiB\); got /;

function flatWithHeaderAt(offset: number, size = 16384): Uint8Array {
  const out = new Uint8Array(size);
  out.set(multibootHeader(0x10000, { headerAddr: 0x100000 + offset, loadAddr: 0x100000, loadEndAddr: 0, bssEndAddr: 0, entryAddr: 0x100000 }), offset);
  return out;
}

test('bzImage and multiboot kernels are told apart', () => {
  assert.equal(detectKernelFormat(buildBzImage(), 'bzImage'), 'linux');
  const elf = buildElf32({ entry: 0x100000, multibootFlags: 0, segments: [{ paddr: 0x100000, data: new Uint8Array(16), memsz: 16 }] });
  assert.equal(detectKernelFormat(elf, 'k.elf'), 'multiboot');
});

test('the multiboot header must be 4-byte aligned and wholly inside the first 8192 bytes', () => {
  assert.equal(detectKernelFormat(flatWithHeaderAt(0), 'a.bin'), 'multiboot');
  assert.equal(detectKernelFormat(flatWithHeaderAt(8192 - 32), 'a.bin'), 'multiboot');
  assertBootError(() => detectKernelFormat(flatWithHeaderAt(8192), 'a.bin'), 'a.bin', EXPECTED);
  assertBootError(() => detectKernelFormat(flatWithHeaderAt(0x102), 'a.bin'), 'a.bin', EXPECTED);
  // Magic, flags and checksum fit, but the address fields would run past byte 8192.
  assertBootError(() => detectKernelFormat(flatWithHeaderAt(8192 - 16), 'a.bin'), 'a.bin', /truncated multiboot header .*address fields/);
});

test('unbootable files: the message says what the file looks like', () => {
  assertBootError(() => detectKernelFormat(new Uint8Array(0), 'empty.img'), 'empty.img', new RegExp(EXPECTED.source + 'an empty file'));
  assertBootError(() => detectKernelFormat(Uint8Array.from([0x1f, 0x8b, 8, 0]), 'k.gz'), 'k.gz', /gzip-compressed/);
  assertBootError(() => detectKernelFormat(new TextEncoder().encode('#!/bin/sh\necho hi\n'), 'run.sh'), 'run.sh', /got 18 bytes starting with 23 21 2f 62 69 6e 2f 73/);
  // An ELF32 layout claiming ELFCLASS64 is read as a (broken) vmlinux.
  const vmlinux = buildElf32({ entry: 0x1000000, elfClass: 2, machine: 62, segments: [{ paddr: 0x1000000, data: new Uint8Array(16), memsz: 16 }] });
  assertBootError(() => detectKernelFormat(vmlinux, 'vmlinux'), 'vmlinux', /ELF64/);
});
