import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { REG, msrReg, MSR } from '../cpu/registers.js';
import { decodeDescriptor } from './descriptors.js';
import { detectKernelFormat } from './detect.js';
import { MBI_MMAP_ADDR, MBI_SIZE, loadMultiboot } from './multiboot.js';
import { assertBootError, cStringAt, reg, seg } from './testing/assert.js';
import { buildAoutKernel, buildElf32, makeMemory } from './testing/images.js';

const MiB = 1024 * 1024;
const FILE = 'guest.elf';

function pattern(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);
}

/** Kernel: .text at 1 MiB, .data + 8 KiB bss at 0x102000 (so it ends at 0x104000). */
function elfKernel(): Uint8Array {
  return buildElf32({
    entry: 0x100010,
    multibootFlags: 0x3,
    segments: [
      { paddr: 0x100000, data: pattern(0x40, 1), memsz: 0x40 },
      { paddr: 0x102000, data: pattern(0x10, 2), memsz: 0x2000 },
    ],
  });
}

test('ELF32 multiboot kernel: segments by physical address, bss zeroed', () => {
  const mem = makeMemory(64 * MiB);
  mem.view(0x102000, 0x2000).fill(0xcc); // stale bytes the loader must clear
  const image = elfKernel();
  assert.equal(detectKernelFormat(image, FILE), 'multiboot');
  const setup = loadMultiboot(mem, image, { fileName: FILE, cmdline: '', modules: [], memBytes: 64 * MiB });
  assert.deepEqual(mem.read(0x100000, 0x40), pattern(0x40, 1));
  assert.deepEqual(mem.read(0x102000, 0x10), pattern(0x10, 2));
  assert.ok(mem.read(0x102010, 0x2000 - 0x10).every((b) => b === 0), 'bss is zeroed');
  assert.equal(setup.entry, 0x100010);
  assert.equal(reg(setup.registers, REG.rip), 0x100010n);
  assert.match(setup.summary, /^multiboot: guest\.elf .*entry 0x100010/);
});

test('multiboot info: flags, memory sizes, cmdline, loader name, memory map', () => {
  const mem = makeMemory(64 * MiB);
  const setup = loadMultiboot(mem, elfKernel(), { fileName: FILE, cmdline: 'console=ttyS0 x', modules: [], memBytes: 64 * MiB });
  const mbi = Number(reg(setup.registers, REG.rbx));
  assert.equal(mbi, 0x9500);
  assert.equal(mem.readU32(mbi + 0), 0x1 | 0x2 | 0x4 | 0x8 | 0x40 | 0x200);
  assert.equal(mem.readU32(mbi + 4), 639, 'mem_lower: conventional memory below the EBDA');
  assert.equal(mem.readU32(mbi + 8), (64 * MiB - MiB) / 1024);
  assert.equal(mem.readU32(mbi + 12), 0x8000ffff, 'boot_device: first hard disk, as QEMU');
  const read = (gpa: number, len: number) => mem.read(gpa, len);
  // Like QEMU and GRUB, the kernel's command line starts with its own file name.
  assert.equal(cStringAt(read, mem.readU32(mbi + 16)), 'guest.elf console=ttyS0 x');
  assert.equal(cStringAt(read, mem.readU32(mbi + 64)), 'tsvmm');
  assert.equal(mem.readU32(mbi + 20), 0, 'mods_count');
  // Strings live on the first page after the kernel's bss.
  assert.equal(mem.readU32(mbi + 24), 0x104000, 'mods_addr');
  assert.ok(mem.readU32(mbi + 16) >= 0x104000 && mem.readU32(mbi + 16) < 0x105000);

  const mmapLen = mem.readU32(mbi + 44);
  const mmapAddr = mem.readU32(mbi + 48);
  assert.equal(mmapAddr, 0x9000);
  assert.equal(mmapLen, 4 * 24);
  const entries = [];
  for (let o = mmapAddr; o < mmapAddr + mmapLen; ) {
    const size = mem.readU32(o);
    entries.push([size, Number(mem.readU64(o + 4)), Number(mem.readU64(o + 12)), mem.readU32(o + 20)]);
    o += size + 4;
  }
  assert.deepEqual(entries, [
    [20, 0, 0x9fc00, 1],
    [20, 0x9fc00, 0x400, 2],
    [20, 0xf0000, 0x10000, 2],
    [20, 0x100000, 63 * MiB, 1],
  ]);
});

test('modules are page-aligned after the strings, with their names', () => {
  const mem = makeMemory(64 * MiB);
  const a = pattern(5000, 3);
  const b = pattern(3, 4);
  const setup = loadMultiboot(mem, elfKernel(), {
    fileName: FILE,
    cmdline: 'x',
    modules: [
      { name: 'initrd.img', data: a },
      { name: 'second arg=1', data: b },
    ],
    memBytes: 64 * MiB,
  });
  const mbi = Number(reg(setup.registers, REG.rbx));
  assert.equal(mem.readU32(mbi + 20), 2);
  const mods = mem.readU32(mbi + 24);
  assert.equal(mods, 0x104000);
  const read = (gpa: number, len: number) => mem.read(gpa, len);
  const m0 = { start: mem.readU32(mods), end: mem.readU32(mods + 4), str: mem.readU32(mods + 8) };
  const m1 = { start: mem.readU32(mods + 16), end: mem.readU32(mods + 20), str: mem.readU32(mods + 24) };
  assert.equal(m0.start, 0x105000, 'first module on the page after the list and strings');
  assert.equal(m0.end - m0.start, 5000);
  assert.equal(m1.start, 0x107000, 'second module on the next page boundary after the first');
  assert.equal(m1.end - m1.start, 3);
  assert.equal(m0.start % 4096, 0);
  assert.equal(m1.start % 4096, 0);
  assert.deepEqual(mem.read(m0.start, 5000), a);
  assert.deepEqual(mem.read(m1.start, 3), b);
  assert.equal(m0.str, 0x104000 + 2 * 16, 'module strings right after the list');
  assert.equal(cStringAt(read, m0.str), 'initrd.img');
  assert.equal(mem.readU32(mbi + 16), m1.str + 'second arg=1'.length + 1, 'kernel cmdline after the module strings');
  assert.equal(cStringAt(read, mem.readU32(mbi + 16)), 'guest.elf x');
  assert.equal(cStringAt(read, m1.str), 'second arg=1');
  assert.match(setup.summary, /2 modules at 0x105000-0x106388, 0x107000-0x107003/);
});

test('same layout as QEMU 7.2 -kernel (observed with the monitor for this very image)', () => {
  // qemu-system-x86_64 -m 128 -kernel k.bin -append foo -initrd "mod1 arg,k.bin": EBX=0x9500,
  // mmap at 0x9000, mods list at 0x201000 -> {0x202000,0x203388,0x201020} {0x204000,0x204200,0x201029},
  // cmdline "k.bin foo" at 0x20102f, loader name at 0x201039, flags 0x24f, mem_lower 639.
  const image = new Uint8Array(0x200);
  image.set(buildAoutKernel({ loadAddr: 0x200000, headerOffset: 0x40, text: new Uint8Array(0x80), bssBytes: 0, entry: 0x200080 }).subarray(0, 0x80));
  image.set([0xfa, 0xf4, 0xeb, 0xfd], 0x80);
  new DataView(image.buffer).setUint32(0x40 + 20, 0, true); // load_end_addr 0: the whole file
  new DataView(image.buffer).setUint32(0x40 + 8, (-(0x1badb002 + 0x10000)) >>> 0, true);
  const mem = makeMemory(128 * MiB);
  const setup = loadMultiboot(mem, image, {
    fileName: 'k.bin',
    cmdline: 'foo',
    modules: [
      { name: 'mod1 arg', data: new Uint8Array(5000).fill(0x41) },
      { name: 'k.bin', data: image },
    ],
    memBytes: 128 * MiB,
  });
  const read = (gpa: number, len: number) => mem.read(gpa, len);
  assert.equal(reg(setup.registers, REG.rbx), 0x9500n);
  assert.deepEqual([0, 4, 12, 16, 20, 24, 48].map((o) => mem.readU32(0x9500 + o)), [0x24f, 0x27f, 0x8000ffff, 0x20102f, 2, 0x201000, 0x9000]);
  assert.deepEqual([0, 4, 8, 16, 20, 24].map((o) => mem.readU32(0x201000 + o)), [0x202000, 0x203388, 0x201020, 0x204000, 0x204200, 0x201029]);
  assert.equal(cStringAt(read, 0x201020), 'mod1 arg');
  assert.equal(cStringAt(read, 0x20102f), 'k.bin foo');
  assert.equal(mem.readU32(0x9500 + 64), 0x201039);
  assert.equal(setup.entry, 0x200080);
  // Without -append QEMU still passes "k.bin " (file name and a space).
  const bare = loadMultiboot(makeMemory(128 * MiB), image, { fileName: 'k.bin', cmdline: '', modules: [], memBytes: 128 * MiB });
  assert.match(bare.summary, /cmdline "k\.bin "/);
});

test('entry state: 32-bit flat protected mode with a GDT in guest memory', () => {
  const mem = makeMemory(64 * MiB);
  const r = loadMultiboot(mem, elfKernel(), { fileName: FILE, cmdline: '', modules: [], memBytes: 64 * MiB }).registers;
  assert.equal(reg(r, REG.rax), 0x2badb002n);
  assert.equal(reg(r, REG.rflags), 0x2n);
  assert.equal(reg(r, REG.cr0), 0x11n, 'PE and ET, paging off');
  assert.equal(reg(r, REG.cr4), 0n);
  assert.equal(reg(r, msrReg(MSR.IA32_EFER)), 0n);
  assert.equal(reg(r, REG.idtrLimit), 0n);
  const cs = seg(r, 'cs');
  assert.deepEqual(cs, { selector: 0x08, base: 0n, limit: 0xffffffff, attrs: 0xc09b });
  for (const s of ['ds', 'es', 'fs', 'gs', 'ss'] as const) assert.deepEqual(seg(r, s), { selector: 0x10, base: 0n, limit: 0xffffffff, attrs: 0xc093 }, s);
  const tr = seg(r, 'tr');
  assert.deepEqual(tr, { selector: 0x18, base: 0x580n, limit: 0x67, attrs: 0x8b });
  assert.equal(seg(r, 'ldtr').attrs, 1 << 16, 'LDTR unusable');

  // The GDT in memory matches what the segment registers hold, selector by selector.
  const gdtBase = Number(reg(r, REG.gdtrBase));
  const gdtLimit = Number(reg(r, REG.gdtrLimit));
  assert.equal(gdtBase, 0x500);
  assert.equal(gdtLimit, 4 * 8 - 1);
  assert.equal(mem.readU64(gdtBase), 0n, 'null descriptor');
  assert.equal(mem.readU64(gdtBase + 0x08), 0x00cf9b000000ffffn);
  assert.equal(mem.readU64(gdtBase + 0x10), 0x00cf93000000ffffn);
  for (const s of [cs, seg(r, 'ds'), tr]) {
    const d = decodeDescriptor(mem.read(gdtBase + s.selector, 8));
    assert.deepEqual({ ...d, selector: s.selector }, s);
  }
});

test('higher-half ELF: a virtual e_entry is translated to its physical address', () => {
  const mem = makeMemory(16 * MiB);
  const image = buildElf32({
    entry: 0xc0100020,
    multibootFlags: 0,
    segments: [{ paddr: 0x100000, vaddr: 0xc0100000, data: pattern(0x100, 5), memsz: 0x100 }],
  });
  const setup = loadMultiboot(mem, image, { fileName: FILE, cmdline: '', modules: [], memBytes: 16 * MiB });
  assert.equal(setup.entry, 0x100020);
  assert.deepEqual(mem.read(0x100000, 0x100), pattern(0x100, 5));
});

test('address-field (a.out kludge) kernel: loaded from the header offset, bss zeroed', () => {
  const mem = makeMemory(16 * MiB);
  mem.view(0x200300, 0x1000).fill(0xee);
  const text = pattern(0x300, 6);
  const image = buildAoutKernel({ loadAddr: 0x200000, headerOffset: 0x40, text, bssBytes: 0x1000, entry: 0x200080 });
  assert.equal(detectKernelFormat(image, 'flat.bin'), 'multiboot');
  const setup = loadMultiboot(mem, image, { fileName: 'flat.bin', cmdline: '', modules: [], memBytes: 16 * MiB });
  assert.deepEqual(mem.read(0x200000, 0x40), text.subarray(0, 0x40));
  assert.equal(mem.readU32(0x200040), 0x1badb002, 'the header itself is part of the loaded image');
  assert.deepEqual(mem.read(0x200060, 0x300 - 0x60), text.subarray(0x60));
  assert.ok(mem.read(0x200300, 0x1000).every((b) => b === 0));
  assert.equal(setup.entry, 0x200080);
  assert.equal(mem.readU32(0x9500 + 24), 0x202000, 'list on the page after bss_end_addr');
});

test('address fields with load_end_addr shorter than the file load only that much', () => {
  const mem = makeMemory(16 * MiB);
  mem.view(0x200000, 0x400).fill(0xee);
  const image = buildAoutKernel({ loadAddr: 0x200000, headerOffset: 0x40, text: pattern(0x300, 7), bssBytes: 0, entry: 0x200000, loadEndAddr: 0x200100 });
  loadMultiboot(mem, image, { fileName: 'flat.bin', cmdline: '', modules: [], memBytes: 16 * MiB });
  assert.equal(mem.read(0x200100, 1)[0], 0xee, 'bytes past load_end_addr untouched');
});

test('errors name the file and say what is wrong', () => {
  const opts = (memBytes = 64 * MiB) => ({ fileName: FILE, cmdline: '', modules: [], memBytes });
  const good = elfKernel();
  // Truncated: the second segment's bytes are cut off.
  assertBootError(() => loadMultiboot(makeMemory(64 * MiB), good.subarray(0, 0x2008), opts()), FILE, /truncated ELF file: segment 1/);
  assertBootError(() => detectKernelFormat(good.subarray(0, 0x2008), FILE), FILE, /truncated/);
  // Cut inside the program headers (the multiboot header after them is gone too).
  assertBootError(() => loadMultiboot(makeMemory(64 * MiB), good.subarray(0, 60), opts()), FILE, /no multiboot header/);
  // Cut inside the program headers but with the multiboot header kept: the ELF check catches it.
  const cut = good.slice(0, 0x100);
  new DataView(cut.buffer).setUint16(0x2c, 8, true); // e_phnum now points past the end
  assertBootError(() => detectKernelFormat(cut.subarray(0, 0x100), FILE), FILE, /truncated ELF file: program headers end at byte 308/);
  // Bad checksum.
  const bad = buildElf32({ entry: 0x100000, multibootFlags: 0, checksumDelta: 1, segments: [{ paddr: 0x100000, data: pattern(16, 1), memsz: 16 }] });
  assertBootError(() => detectKernelFormat(bad, FILE), FILE, /bad checksum 0x[0-9a-f]+ .*checksum is 0xe4524ffe/);
  assertBootError(() => loadMultiboot(makeMemory(64 * MiB), bad, opts()), FILE, /bad checksum/);
  // No multiboot header at all.
  const plain = buildElf32({ entry: 0x100000, segments: [{ paddr: 0x100000, data: pattern(16, 1), memsz: 16 }] });
  assertBootError(() => loadMultiboot(makeMemory(64 * MiB), plain, opts()), FILE, /no multiboot header \(magic 0x1BADB002\) in the first 8192 bytes/);
  assertBootError(() => detectKernelFormat(plain, FILE), FILE, /not a kernel tsvmm can boot: expected .*; got an ELF32 i386 file without a multiboot header/);
  // Too little RAM.
  assertBootError(() => loadMultiboot(makeMemory(MiB), good, opts(MiB)), FILE, /too small .* at least 2 MiB/);
  // Kernel too large for RAM.
  const big = buildElf32({ entry: 0x100000, multibootFlags: 0, segments: [{ paddr: 0x100000, data: pattern(16, 1), memsz: 8 * MiB }] });
  assertBootError(() => loadMultiboot(makeMemory(4 * MiB), big, opts(4 * MiB)), FILE, /does not fit in guest RAM .*--mem \(at least 9 MiB\)/);
  // Linked in the MMIO hole (the local APIC page): no --mem makes that RAM, so the message says so, at any RAM size.
  const apic = buildElf32({ entry: 0xfee00000, multibootFlags: 0, segments: [{ paddr: 0xfee00000, data: pattern(16, 1), memsz: 16 }] });
  for (const ram of [64 * MiB, 4096 * MiB]) {
    assertBootError(() => loadMultiboot(makeMemory(64 * MiB), apic, opts(ram)), FILE, /at 0xfee00000-0xfee00010 is not RAM in the guest's map: .*the local APIC page at 0xfee00000; link or load the kernel below 0xc0000000$/);
  }
  // Modules that do not fit.
  assertBootError(
    () => loadMultiboot(makeMemory(4 * MiB), good, { ...opts(4 * MiB), modules: [{ name: 'huge.img', data: new Uint8Array(4 * MiB) }] }),
    FILE,
    /module huge\.img .*does not fit/,
  );
  // 64-bit ELF without address fields.
  const elf64 = buildElf32({ entry: 0x100000, multibootFlags: 0, elfClass: 2, machine: 62, segments: [{ paddr: 0x100000, data: pattern(16, 1), memsz: 16 }] });
  assertBootError(() => detectKernelFormat(elf64, FILE), FILE, /64-bit ELF .*objcopy -O elf32-i386/);
  // A segment over the IVT and BIOS data area.
  const ivt = buildElf32({ entry: 0x100, multibootFlags: 0, segments: [{ paddr: 0x100, data: pattern(16, 1), memsz: 0x100 }] });
  assertBootError(() => loadMultiboot(makeMemory(64 * MiB), ivt, opts()), FILE, /covers the real-mode IVT and BIOS data area/);
  // Inconsistent address fields.
  const aout = buildAoutKernel({ loadAddr: 0x200000, headerOffset: 0x40, text: pattern(0x100, 1), bssBytes: 0, entry: 0x200000 });
  new DataView(aout.buffer).setUint32(0x40 + 16, 0x300000, true); // load_addr above header_addr
  new DataView(aout.buffer).setUint32(0x40 + 8, (-(0x1badb002 + 0x10000) >>> 0), true);
  assertBootError(() => loadMultiboot(makeMemory(64 * MiB), aout, { ...opts(), fileName: 'flat.bin' }), 'flat.bin', /header_addr 0x200040 is below load_addr 0x300000/);
  // Address fields asking for more than the file holds.
  const short = buildAoutKernel({ loadAddr: 0x200000, headerOffset: 0x40, text: pattern(0x100, 1), bssBytes: 0, entry: 0x200000, loadEndAddr: 0x210000 });
  assertBootError(() => loadMultiboot(makeMemory(64 * MiB), short, { ...opts(), fileName: 'flat.bin' }), 'flat.bin', /truncated image/);
});

// The project's own guests, when they have been built (npm run guests).
const guestsDir = new URL('../../../guests/build/', import.meta.url);
for (const name of ['hello.elf', 'longmode.elf']) {
  const file = new URL(name, guestsDir);
  test(`project guest ${name} loads at its ELF entry`, { skip: !existsSync(file) && 'guests not built' }, () => {
    const image = new Uint8Array(readFileSync(file));
    assert.equal(detectKernelFormat(image, name), 'multiboot');
    const mem = makeMemory(32 * MiB);
    const setup = loadMultiboot(mem, image, { fileName: name, cmdline: 'a b', modules: [], memBytes: 32 * MiB });
    const eEntry = new DataView(image.buffer, image.byteOffset).getUint32(0x18, true);
    assert.equal(setup.entry, eEntry);
    assert.equal(cStringAt((g, l) => mem.read(g, l), mem.readU32(0x9500 + 16)), `${name} a b`);
  });
}

test('a kernel linked below 1 MiB over the default boot data: the loader moves its own data out of the way', () => {
  const opts = (memBytes = 64 * MiB) => ({ fileName: FILE, cmdline: '', modules: [], memBytes });
  // Segments at 0x8000-0xa86c (the default memory map and info places) and 0x6000-0x7e00 (the default stack).
  const text = pattern(0x286c, 7);
  const low = buildElf32({ entry: 0x8000, multibootFlags: 0, segments: [{ paddr: 0x8000, data: text, memsz: 0x286c }, { paddr: 0x6000, data: pattern(0x1e00, 3), memsz: 0x1e00 }] });
  const mem = makeMemory(64 * MiB);
  const setup = loadMultiboot(mem, low, opts());
  assert.deepEqual([...mem.view(0x8000, 0x286c)], [...text], 'the kernel is intact');
  const reg = new Map(setup.registers);
  const info = Number(reg.get(REG.rbx));
  assert.ok(info + MBI_SIZE <= 0x6000 || info >= 0xa86c, `info at 0x${info.toString(16)} clear of the kernel`);
  assert.equal(mem.readU32(info + MBI_MMAP_ADDR) >= 0x1000, true);
  const mmap = mem.readU32(info + MBI_MMAP_ADDR);
  assert.ok(mmap + 0x100 <= 0x6000 || mmap >= 0xa86c, 'memory map clear of the kernel');
  assert.equal(mem.readU32(mmap + 20), 1, 'first map entry is RAM');
  const gdt = Number(reg.get(REG.gdtrBase));
  assert.ok(gdt + 32 <= 0x6000 || gdt >= 0xa86c, 'GDT clear of the kernel');
  const rsp = Number(reg.get(REG.rsp));
  assert.ok(rsp <= 0x6000 || rsp >= 0xa86c + 0x400, `stack top 0x${rsp.toString(16)} clear of the kernel`);
  assert.match(setup.summary, /boot data moved out of the kernel's way/);
  // A kernel at 1 MiB keeps QEMU's places.
  const normal = loadMultiboot(makeMemory(64 * MiB), buildElf32({ entry: 0x100000, multibootFlags: 0, segments: [{ paddr: 0x100000, data: pattern(16, 1), memsz: 16 }] }), opts());
  assert.equal(new Map(normal.registers).get(REG.rbx), 0x9500n);
});
