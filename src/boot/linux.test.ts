import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { REG, msrReg, MSR } from '../cpu/registers.js';
import { decodeDescriptor } from './descriptors.js';
import { detectKernelFormat } from './detect.js';
import { parseLinuxHeader } from './linux-header.js';
import { linuxRngSeed, loadLinux } from './linux.js';
import { assertBootError, cStringAt, reg, seg } from './testing/assert.js';
import { buildBzImage, kernelPattern, makeMemory } from './testing/images.js';

const MiB = 1024 * 1024;
const FILE = 'bzImage';
const ZP = 0x7000;

function initrdBytes(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + 9) & 0xff);
}

function boot(opts: { memBytes?: number; cmdline?: string; initrd?: Uint8Array; image?: Uint8Array; rngSeed?: Uint8Array } = {}) {
  const memBytes = opts.memBytes ?? 64 * MiB;
  const mem = makeMemory(memBytes);
  const image = opts.image ?? buildBzImage();
  const setup = loadLinux(mem, image, {
    fileName: FILE,
    cmdline: opts.cmdline ?? 'console=ttyS0 root=/dev/vda',
    memBytes,
    ...(opts.initrd ? { initrd: { name: 'initrd.img', data: opts.initrd } } : {}),
    ...(opts.rngSeed ? { rngSeed: opts.rngSeed } : {}),
  });
  return { mem, image, setup };
}

test('protected-mode kernel is copied to pref_address; entry is 0x200 into it', () => {
  const { mem, image, setup } = boot();
  assert.equal(detectKernelFormat(image, FILE), 'linux');
  const setupBytes = 5 * 512;
  assert.deepEqual(mem.read(0x1000000, image.length - setupBytes), image.subarray(setupBytes));
  assert.equal(mem.read(0x1000000, 1)[0], kernelPattern(0));
  assert.equal(setup.entry, 0x1000200);
  assert.equal(reg(setup.registers, REG.rip), 0x1000200n);
  assert.match(setup.summary, /^linux: bzImage \(boot protocol 2\.15, relocatable\) .*at 0x1000000/);
});

test('zero page: setup header copied, loader fields, cmdline pointer', () => {
  const { mem, image, setup } = boot();
  assert.equal(reg(setup.registers, REG.rsi), BigInt(ZP));
  const zp = mem.read(ZP, 4096);
  const zv = new DataView(zp.buffer);
  // Header bytes 0x1f1..0x26c come from the image except the fields the loader fills.
  const loaderFields = new Set([0x210, ...[0x218, 0x219, 0x21a, 0x21b, 0x21c, 0x21d, 0x21e, 0x21f], 0x228, 0x229, 0x22a, 0x22b]);
  for (let o = 0x1f1; o < 0x26c; o++) if (!loaderFields.has(o)) assert.equal(zp[o], image[o], `header byte 0x${o.toString(16)}`);
  assert.equal(zv.getUint32(0x202, true), 0x53726448, 'HdrS');
  assert.equal(zv.getUint16(0x206, true), 0x020f);
  assert.equal(zv.getUint16(0x1fe, true), 0xaa55);
  assert.equal(zp[0x210], 0xff, 'type_of_loader');
  assert.equal(zp[0x211]! & 1, 1, 'LOADED_HIGH');
  assert.equal(zv.getUint32(0x228, true), 0x20000, 'cmd_line_ptr');
  assert.equal(zv.getUint32(0xc8, true), 0, 'ext_cmd_line_ptr');
  assert.equal(zv.getUint32(0x218, true), 0, 'no ramdisk_image');
  assert.equal(zv.getUint32(0x21c, true), 0, 'no ramdisk_size');
  assert.equal(cStringAt((g, l) => mem.read(g, l), 0x20000), 'console=ttyS0 root=/dev/vda');
  // Nothing before the header besides e820 (no screen_info etc.).
  assert.ok(zp.subarray(0, 0x1e8).every((b) => b === 0));
});

test('zero page: e820 table and count', () => {
  const { mem } = boot();
  assert.equal(mem.read(ZP + 0x1e8, 1)[0], 4, 'e820_entries');
  const entries = [];
  for (let i = 0; i < 4; i++) {
    const o = ZP + 0x2d0 + i * 20;
    entries.push([Number(mem.readU64(o)), Number(mem.readU64(o + 8)), mem.readU32(o + 16)]);
  }
  assert.deepEqual(entries, [
    [0, 0x9fc00, 1],
    [0x9fc00, 0x400, 2],
    [0xf0000, 0x10000, 2],
    [0x100000, 63 * MiB, 1],
  ]);
  assert.equal(mem.readU64(ZP + 0x2d0 + 4 * 20), 0n, 'nothing after the last entry');
});

test('initrd: page-aligned at the top of RAM, recorded in the zero page', () => {
  const data = initrdBytes(10000);
  const { mem, setup } = boot({ initrd: data });
  const addr = mem.readU32(ZP + 0x218);
  assert.equal(addr, 64 * MiB - 0x3000, 'highest page-aligned start that fits');
  assert.equal(addr % 4096, 0);
  assert.equal(mem.readU32(ZP + 0x21c), 10000);
  assert.equal(mem.readU32(ZP + 0xc0), 0, 'ext_ramdisk_image');
  assert.equal(mem.readU32(ZP + 0xc4), 0, 'ext_ramdisk_size');
  assert.deepEqual(mem.read(addr, 10000), data);
  assert.match(setup.summary, /initrd initrd\.img \(9\.8 KiB\) at 0x3ffd000/);
});

test('initrd stays below initrd_addr_max', () => {
  const image = buildBzImage({ initrdAddrMax: 0x2ffffff });
  const { mem } = boot({ image, initrd: initrdBytes(5000) });
  const addr = mem.readU32(ZP + 0x218);
  assert.equal(addr, 0x3000000 - 0x2000);
  assert.ok(addr + 5000 <= 0x3000000);
});

test('identity page tables map the first 4 GiB with 2 MiB pages', () => {
  const { mem, setup } = boot();
  assert.equal(reg(setup.registers, REG.cr3), 0x9000n);
  assert.equal(mem.readU64(0x9000), 0xa003n, 'PML4[0] -> PDPT, present + writable');
  assert.equal(mem.readU64(0x9008), 0n, 'PML4[1] empty');
  for (let i = 0; i < 4; i++) assert.equal(mem.readU64(0xa000 + i * 8), BigInt(0xb003 + i * 0x1000), `PDPT[${i}]`);
  assert.equal(mem.readU64(0xa000 + 4 * 8), 0n, 'PDPT[4] empty');
  assert.equal(mem.readU64(0xb000), 0x83n, 'PD0[0]: 0-2 MiB, PS');
  assert.equal(mem.readU64(0xb008), 0x200083n, 'PD0[1]: 2-4 MiB');
  assert.equal(mem.readU64(0xc000), 0x40000083n, 'PD1[0]: 1 GiB');
  assert.equal(mem.readU64(0xe000 + 511 * 8), 0xffe00083n, 'PD3[511]: last 2 MiB below 4 GiB');
});

test('entry state: long mode with the boot protocol GDT', () => {
  const { mem, setup } = boot();
  const r = setup.registers;
  assert.equal(reg(r, REG.cr0), 0x80000011n, 'PG | ET | PE');
  assert.equal(reg(r, REG.cr4), 0x20n, 'PAE');
  assert.equal(reg(r, msrReg(MSR.IA32_EFER)), 0x500n, 'LME | LMA');
  assert.equal(reg(r, REG.rflags), 0x2n, 'interrupts off');
  assert.equal(reg(r, REG.idtrLimit), 0n);
  const cs = seg(r, 'cs');
  assert.deepEqual(cs, { selector: 0x10, base: 0n, limit: 0xffffffff, attrs: 0xa09b });
  for (const s of ['ds', 'es', 'fs', 'gs', 'ss'] as const) assert.deepEqual(seg(r, s), { selector: 0x18, base: 0n, limit: 0xffffffff, attrs: 0xc093 }, s);
  const tr = seg(r, 'tr');
  assert.deepEqual(tr, { selector: 0x20, base: 0x580n, limit: 0x67, attrs: 0x8b });
  assert.equal(seg(r, 'ldtr').attrs, 1 << 16);
  const gdt = Number(reg(r, REG.gdtrBase));
  assert.equal(gdt, 0x500);
  assert.equal(reg(r, REG.gdtrLimit), 47n);
  assert.equal(mem.readU64(gdt), 0n);
  assert.equal(mem.readU64(gdt + 8), 0n);
  assert.equal(mem.readU64(gdt + 0x10), 0x00af9b000000ffffn, '__BOOT_CS: 64-bit code');
  assert.equal(mem.readU64(gdt + 0x18), 0x00cf93000000ffffn, '__BOOT_DS: flat data');
  assert.equal(mem.readU64(gdt + 0x28), 0n, 'upper half of the 64-bit TSS descriptor');
  for (const s of [cs, seg(r, 'ds'), tr]) assert.deepEqual({ ...decodeDescriptor(mem.read(gdt + s.selector, 8)), selector: s.selector }, s);
});

test('older protocols: no pref_address field, so the kernel goes to 1 MiB', () => {
  const image = buildBzImage({ version: 0x0206, prefAddress: 0x1000000, relocatable: false });
  const { mem, setup } = boot({ image, memBytes: 16 * MiB });
  assert.equal(setup.entry, 0x100200);
  assert.equal(mem.read(0x100000, 1)[0], kernelPattern(0));
  // Relocatable ones still honour kernel_alignment (2 MiB here).
  assert.equal(boot({ image: buildBzImage({ version: 0x0206 }), memBytes: 16 * MiB }).setup.entry, 0x200200);
});

test('an RNG seed goes to the kernel as a SETUP_RNG_SEED setup_data entry', () => {
  const seed = linuxRngSeed(false);
  const { mem, setup } = boot({ rngSeed: seed });
  const zv = new DataView(mem.read(ZP, 4096).buffer);
  assert.equal(zv.getBigUint64(0x250, true), 0x6000n, 'setup_data');
  const sd = mem.read(0x6000, 16 + 32);
  const sv = new DataView(sd.buffer);
  assert.equal(sv.getBigUint64(0, true), 0n, 'next: the last entry');
  assert.equal(sv.getUint32(8, true), 9, 'SETUP_RNG_SEED');
  assert.equal(sv.getUint32(12, true), 32);
  assert.deepEqual(sd.subarray(16), seed);
  assert.match(setup.summary, /RNG seed at 0x6000/);
  // Without a seed, and for a header too old to have the field (protocol 2.06 ends at 0x236), none.
  assert.equal(new DataView(boot().mem.read(ZP, 4096).buffer).getBigUint64(0x250, true), 0n);
  const old = boot({ image: buildBzImage({ version: 0x0206 }), memBytes: 16 * MiB, rngSeed: seed });
  assert.ok(old.mem.read(0x6000, 48).every((b) => b === 0));
  assert.doesNotMatch(old.setup.summary, /RNG seed/);
});

test('RNG seeds: random for a VM on the real-time clock, the same every time for a deterministic one', () => {
  assert.equal(linuxRngSeed(false).length, 32);
  assert.notDeepEqual(linuxRngSeed(false), linuxRngSeed(false));
  assert.deepEqual(linuxRngSeed(true), linuxRngSeed(true));
});

test('a relocatable kernel with an unaligned preference is aligned up to kernel_alignment', () => {
  const { setup } = boot({ image: buildBzImage({ prefAddress: 0x1100000 }) });
  assert.equal(setup.entry, 0x1200200);
});

test('errors name the file and say what is wrong', () => {
  const opts = (memBytes = 64 * MiB) => ({ fileName: FILE, cmdline: '', memBytes });
  assertBootError(() => detectKernelFormat(buildBzImage({ version: 0x0205 }), FILE), FILE, /boot protocol 2\.05 is too old: .*>= 2\.06/);
  assertBootError(() => loadLinux(makeMemory(64 * MiB), buildBzImage({ version: 0x0201 }), opts()), FILE, /too old/);
  assertBootError(
    () => loadLinux(makeMemory(64 * MiB), buildBzImage({ initSize: 128 * MiB }), opts()),
    FILE,
    /kernel too large for guest RAM: it loads at 0x1000000 and needs 128 MiB .*at least 144 MiB with --mem/,
  );
  assertBootError(
    () => loadLinux(makeMemory(64 * MiB), buildBzImage(), { ...opts(), initrd: { name: 'big.cpio', data: new Uint8Array(50 * MiB) } }),
    FILE,
    /initrd big\.cpio \(50 MiB\) is too big: .*kernel, which ends at 0x1400000, leaving 44 MiB/,
  );
  assertBootError(() => loadLinux(makeMemory(64 * MiB), buildBzImage({ cmdlineSize: 16 }), { ...opts(), cmdline: 'x'.repeat(17) }), FILE, /17 bytes .*at most 16/);
  loadLinux(makeMemory(64 * MiB), buildBzImage({ cmdlineSize: 16 }), { ...opts(), cmdline: 'x'.repeat(16) });
  assertBootError(() => loadLinux(makeMemory(64 * MiB), buildBzImage({ prefAddress: 0x8000, relocatable: false }), opts()), FILE, /loaded at 0x8000, below 1 MiB/);
  const zeros = buildBzImage();
  zeros.fill(0, (zeros[0x1f1]! + 1) * 512);
  assertBootError(() => loadLinux(makeMemory(64 * MiB), zeros, opts()), FILE, /the protected-mode kernel \(12 KiB after the setup sectors\) is all zeros: the image is damaged/);
  for (const ram of [64 * MiB, 4096 * MiB]) {
    assertBootError(() => loadLinux(makeMemory(64 * MiB), buildBzImage({ prefAddress: 0xfee00000, relocatable: false }), opts(ram)), FILE, /at 0xfee00000-0x[0-9a-f]+ is not RAM in the guest's map: .*local APIC page/);
  }
  assertBootError(() => detectKernelFormat(buildBzImage({ xloadflags: 0 }), FILE), FILE, /no 64-bit entry point/);
  assertBootError(() => detectKernelFormat(buildBzImage({ loadflags: 0 }), FILE), FILE, /zImage/);
  assertBootError(() => detectKernelFormat(buildBzImage().subarray(0, 0x1000), FILE), FILE, /truncated Linux image/);
  assertBootError(() => detectKernelFormat(buildBzImage().subarray(0, 0x250), FILE), FILE, /truncated Linux image/);
});

// A real distribution kernel, when one has been fetched into .cache/ (apt-get download linux-image-*-amd64).
const vmlinuz = new URL('../../../.cache/debian-kernel/vmlinuz', import.meta.url);
test('Debian vmlinuz: detected, header parsed, loaded', { skip: !existsSync(vmlinuz) && 'no .cache/debian-kernel/vmlinuz' }, () => {
  const image = new Uint8Array(readFileSync(vmlinuz));
  assert.equal(detectKernelFormat(image, 'vmlinuz'), 'linux');
  const h = parseLinuxHeader(image, 'vmlinuz');
  assert.ok(h.version >= 0x020c, `protocol ${h.version.toString(16)}`);
  assert.ok(h.xloadflags & 1, 'XLF_KERNEL_64');
  assert.ok(h.relocatable);
  assert.equal(h.kernelAlignment, 0x200000);
  assert.equal(h.prefAddress, 0x1000000);
  assert.ok(h.initSize > h.kernelBytes, 'decompression needs more than the compressed size');
  assert.equal(h.cmdlineSize, 2047);
  const mem = makeMemory(256 * MiB);
  const setup = loadLinux(mem, image, { fileName: 'vmlinuz', cmdline: 'console=ttyS0', memBytes: 256 * MiB, initrd: { name: 'initrd', data: initrdBytes(3 * MiB) } });
  assert.equal(setup.entry, 0x1000200);
  assert.deepEqual(mem.read(0x1000000, 4096), image.subarray(h.kernelOffset, h.kernelOffset + 4096));
  assert.equal(mem.readU32(ZP + 0x218), 256 * MiB - 3 * MiB);
});
