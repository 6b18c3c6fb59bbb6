// A bzImage whose payload tsvmm decompresses: the vmlinux is decompressed into guest RAM below the
// load address and its segments are moved into place there. Whatever the vmlinux's file layout (in
// place, moves in a forced order, or a cycle that needs the host copy), guest RAM must end up the
// same: segments at their addresses, bss and every staged leftover zero.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { BootError } from './boot-error.js';
import { loadLinux } from './linux.js';
import { prepareBzImageDecompression } from './linux-decompressed.js';
import { buildBzImage, makeMemory } from './testing/images.js';

const MiB = 1024 * 1024;
const LOAD = 0x100_0000; // the synthetic bzImage's pref_address
const ZERO_PAGE = 0x7000;

interface Seg {
  offset: number;
  paddr: number;
  filesz: number;
  memsz: number;
}

function segData(i: number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, k) => ((k * (13 + i * 2)) ^ (k >>> 9) ^ (i * 0x55)) & 0xff || 1);
}

/** An ELF64 executable with PT_LOAD segments at the given file offsets (the rest of the file: 0xee filler). */
function elf64(segs: Seg[]): Uint8Array {
  const size = Math.max(...segs.map((s) => s.offset + s.filesz)) + 0x123;
  const img = new Uint8Array(size).fill(0xee);
  const v = new DataView(img.buffer);
  img.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  v.setUint16(0x10, 2, true);
  v.setUint16(0x12, 62, true);
  v.setUint32(0x14, 1, true);
  v.setBigUint64(0x18, BigInt(LOAD), true);
  v.setBigUint64(0x20, 64n, true);
  v.setUint16(0x34, 64, true);
  v.setUint16(0x36, 56, true);
  v.setUint16(0x38, segs.length, true);
  segs.forEach((s, i) => {
    const at = 64 + i * 56;
    v.setUint32(at, 1, true);
    v.setUint32(at + 4, 7, true);
    v.setBigUint64(at + 8, BigInt(s.offset), true);
    v.setBigUint64(at + 0x10, BigInt(s.paddr) | 0xffff_ffff_8000_0000n, true);
    v.setBigUint64(at + 0x18, BigInt(s.paddr), true);
    v.setBigUint64(at + 0x20, BigInt(s.filesz), true);
    v.setBigUint64(at + 0x28, BigInt(s.memsz), true);
    img.set(segData(i, s.filesz), s.offset);
  });
  return img;
}

function bzImageWith(vmlinux: Uint8Array, damage?: (payload: Uint8Array) => void, compress: (vmlinux: Uint8Array) => Uint8Array = gzipSync): Uint8Array {
  const payload = compress(vmlinux);
  damage?.(payload);
  const img = buildBzImage({ kernelBytes: 0x200 + payload.length, initSize: 0x40_0000 });
  const setupBytes = (img[0x1f1]! + 1) * 512;
  img.set(payload, setupBytes + 0x200);
  const v = new DataView(img.buffer);
  v.setUint32(0x248, 0x200, true);
  v.setUint32(0x24c, payload.length, true);
  return img;
}

function bootRam(segs: Seg[], image = bzImageWith(elf64(segs))): Uint8Array {
  const memBytes = 64 * MiB;
  const mem = makeMemory(memBytes);
  loadLinux(mem, image, { fileName: 'bzImage', cmdline: 'console=ttyS0', memBytes, decompress: 'host', initrd: { name: 'initrd', data: new Uint8Array(5000).fill(0x77) } });
  return mem.view(0, memBytes).slice();
}

// The same three segments (paddr, sizes, bytes); only their file offsets differ. Staged 2 MiB below LOAD,
// file offset f lies at LOAD + f - 2 MiB.
const s0 = { paddr: LOAD, filesz: 0x2_0000, memsz: 0x2_0000 };
const s1 = { paddr: LOAD + 0x4_0000, filesz: 0x3_0000, memsz: 0x5_0000 }; // with a bss
const s2 = { paddr: LOAD + 0x20_0000, filesz: 0x1_0000, memsz: 0x1_8000 };
const LAYOUTS: [string, Seg[]][] = [
  // s0 in place; s2's source lies where s1 goes, so s2 must move first though it comes later.
  ['in place, ordered moves', [{ ...s0, offset: 0x20_0000 }, { ...s1, offset: 0x30_0000 }, { ...s2, offset: 0x24_0000 }]],
  // s1's source lies where s2 goes and s2's where s1 goes: no order works, the host copies.
  ['a cycle (host copy)', [{ ...s0, offset: 0x20_0000 }, { ...s1, offset: 0x40_0000 }, { ...s2, offset: 0x24_0000 }]],
  // Packed after the headers: every segment moves up.
  ['packed', [{ ...s0, offset: 0x1000 }, { ...s1, offset: 0x2_1000 }, { ...s2, offset: 0x5_1000 }]],
];

test('host decompression: guest RAM is the same for every file layout of the vmlinux', () => {
  let want: Uint8Array | undefined;
  for (const [name, segs] of LAYOUTS) {
    const ram = bootRam(segs);
    segs.forEach((s, i) => {
      assert.deepEqual(ram.subarray(s.paddr, s.paddr + s.filesz), segData(i, s.filesz), `${name}: segment ${i}`);
      assert.ok(ram.subarray(s.paddr + s.filesz, s.paddr + s.memsz).every((b) => b === 0), `${name}: bss of segment ${i}`);
    });
    assert.ok(ram.subarray(LOAD - 0x20_0000, LOAD).every((b) => b === 0), `${name}: the staging area below the kernel is clear`);
    // Between 1 MiB and 32 MiB (the boot data are below, the initrd at the top) only the segments are non-zero.
    const rest = ram.slice(MiB, 32 * MiB);
    for (const s of segs) rest.fill(0, s.paddr - MiB, s.paddr + s.memsz - MiB);
    assert.equal(rest.findIndex((b) => b !== 0), -1, `${name}: a byte the kernel does not own is not zero`);
    if (want === undefined) want = ram;
    else {
      // The zero page's copy of the setup header holds the payload's length and the file's size, which differ.
      ram.set(want.subarray(ZERO_PAGE + 0x1f1, ZERO_PAGE + 0x290), ZERO_PAGE + 0x1f1);
      const d = ram.findIndex((b, k) => b !== want![k]);
      assert.equal(d, -1, `${name}: guest RAM differs from the first layout's at 0x${d.toString(16)}`);
    }
  }
});

test('host decompression: the loader tells the host which guest RAM it decompresses into, before writing it', () => {
  const memBytes = 64 * MiB;
  const mem = makeMemory(memBytes);
  const vmlinux = elf64(LAYOUTS[0]![1]);
  const told: { gpa: number; length: number; zero: boolean }[] = [];
  const base = mem.view(0, memBytes);
  loadLinux(mem, bzImageWith(vmlinux), {
    fileName: 'bzImage',
    cmdline: 'console=ttyS0',
    memBytes,
    decompress: 'host',
    prefault: (ram) => told.push({ gpa: ram.byteOffset - base.byteOffset, length: ram.length, zero: ram.every((b) => b === 0) }),
  });
  // Staged 2 MiB below the load address, the whole decompressed vmlinux, still untouched when told.
  assert.deepEqual(told, [{ gpa: LOAD - 0x20_0000, length: vmlinux.length, zero: true }]);
});

test('host decompression: a damaged payload is reported as damaged, whatever its decoder says, and only then', () => {
  const memBytes = 64 * MiB;
  const vmlinux = elf64(LAYOUTS[0]![1]);
  const load = (damage: (payload: Uint8Array) => void, mem = memBytes) =>
    loadLinux(makeMemory(mem), bzImageWith(vmlinux, damage), { fileName: 'bzImage', cmdline: '', memBytes: mem, decompress: 'host' });
  const advice = '; the file is damaged or cut short: copy or download it again';
  // The gzip trailer's size is 100 bytes short: the decoder says its data are longer than stated.
  const short = (p: Uint8Array) => new DataView(p.buffer, p.byteOffset).setUint32(p.length - 4, vmlinux.length - 100, true);
  assert.throws(() => load(short), (e: unknown) => e instanceof BootError && e.message === `bzImage: gzip data longer than its stated size${advice}`);
  // A flipped CRC-32.
  assert.throws(() => load((p) => void (p[p.length - 8]! ^= 1)), (e: unknown) => e instanceof BootError && e.message === `bzImage: corrupt gzip data (CRC-32 mismatch)${advice}`);
  // More than the guest's RAM is no damage: the advice would be wrong.
  const huge = (p: Uint8Array) => new DataView(p.buffer, p.byteOffset).setUint32(p.length - 4, 40 * MiB, true);
  assert.throws(() => load(huge, 32 * MiB), (e: unknown) => e instanceof BootError && /more than the guest's \d+ bytes of RAM$/.test(e.message));
});

test('host decompression: an xz payload (x86 BCJ, as the kernel builds it) whose decoder the VM builder warmed up first loads the same RAM as gzip', (t) => {
  const segs = LAYOUTS[0]![1];
  const vmlinux = elf64(segs);
  const xz = spawnSync('xz', ['--format=xz', '--check=crc32', '--x86', '--lzma2=preset=6', '-c'], { input: vmlinux });
  if (xz.error) return t.skip(`xz not installed (${(xz.error as NodeJS.ErrnoException).code})`);
  // The kernel build appends the decompressed size to an xz payload.
  const withSize = (v: Uint8Array) => {
    const out = new Uint8Array(xz.stdout.length + 4);
    out.set(xz.stdout);
    new DataView(out.buffer).setUint32(xz.stdout.length, v.length, true);
    return out;
  };
  const image = bzImageWith(vmlinux, undefined, withSize);
  prepareBzImageDecompression(image);
  const ram = bootRam(segs, image);
  const want = bootRam(segs);
  // The zero page's copy of the setup header holds the payload's length and the file's size, which differ.
  ram.set(want.subarray(ZERO_PAGE + 0x1f1, ZERO_PAGE + 0x290), ZERO_PAGE + 0x1f1);
  const d = ram.findIndex((b, k) => b !== want[k]);
  assert.equal(d, -1, `guest RAM differs from gzip's at 0x${d.toString(16)}`);
});

test('host decompression: the early warm-up ignores what is no bzImage with a payload (loading reports it)', () => {
  for (const junk of [new Uint8Array(0), new Uint8Array(300), Uint8Array.from({ length: 9000 }, (_, i) => (i * 7) & 0xff), bzImageWith(elf64(LAYOUTS[0]![1])).subarray(0, 0x300)]) {
    assert.doesNotThrow(() => prepareBzImageDecompression(junk));
  }
});
