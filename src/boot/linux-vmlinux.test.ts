import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REG, msrReg, MSR } from '../cpu/registers.js';
import { detectKernelFormat } from './detect.js';
import { loadVmlinux } from './linux-decompressed.js';
import { PVH_MEMMAP_ADDR, PVH_MODLIST_ADDR, PVH_START_INFO_ADDR, HVM_START_MAGIC } from './pvh.js';
import { assertBootError, reg, seg } from './testing/assert.js';
import { makeMemory } from './testing/images.js';

const MiB = 1024 * 1024;

/** A minimal ELF64 executable: PT_LOAD segments and optionally a PT_NOTE with the Xen PVH entry. */
function buildElf64(o: { entry: bigint; machine?: number; segments: { paddr: number; vaddr: bigint; data: Uint8Array; memsz: number }[]; pvhEntry?: number }): Uint8Array {
  const note = o.pvhEntry === undefined ? undefined : (() => {
    const n = new Uint8Array(12 + 4 + 8);
    const v = new DataView(n.buffer);
    v.setUint32(0, 4, true);
    v.setUint32(4, 8, true);
    v.setUint32(8, 18, true);
    n.set([0x58, 0x65, 0x6e, 0], 12); // "Xen\0"
    v.setBigUint64(16, BigInt(o.pvhEntry!), true);
    return n;
  })();
  const phnum = o.segments.length + (note ? 1 : 0);
  let off = 64 + 56 * phnum;
  const parts: { at: number; data: Uint8Array }[] = [];
  const ph = new Uint8Array(56 * phnum);
  const pv = new DataView(ph.buffer);
  o.segments.forEach((s, i) => {
    pv.setUint32(i * 56, 1, true);
    pv.setBigUint64(i * 56 + 8, BigInt(off), true);
    pv.setBigUint64(i * 56 + 0x10, s.vaddr, true);
    pv.setBigUint64(i * 56 + 0x18, BigInt(s.paddr), true);
    pv.setBigUint64(i * 56 + 0x20, BigInt(s.data.length), true);
    pv.setBigUint64(i * 56 + 0x28, BigInt(s.memsz), true);
    parts.push({ at: off, data: s.data });
    off += s.data.length;
  });
  if (note) {
    const i = o.segments.length;
    pv.setUint32(i * 56, 4, true);
    pv.setBigUint64(i * 56 + 8, BigInt(off), true);
    pv.setBigUint64(i * 56 + 0x20, BigInt(note.length), true);
    parts.push({ at: off, data: note });
    off += note.length;
  }
  const img = new Uint8Array(off);
  const v = new DataView(img.buffer);
  img.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(0x10, 2, true);
  v.setUint16(0x12, o.machine ?? 62, true);
  v.setBigUint64(0x18, o.entry, true);
  v.setBigUint64(0x20, 64n, true);
  v.setUint16(0x34, 64, true);
  v.setUint16(0x36, 56, true);
  v.setUint16(0x38, phnum, true);
  img.set(ph, 64);
  for (const p of parts) img.set(p.data, p.at);
  return img;
}

const text = Uint8Array.from({ length: 0x3000 }, (_, i) => (i * 7) & 0xff);
const data = Uint8Array.from({ length: 0x100 }, (_, i) => 0x80 | (i & 0x7f));
const segs = [
  { paddr: 0x1000000, vaddr: 0xffffffff81000000n, data: text, memsz: text.length },
  { paddr: 0x1200000, vaddr: 0xffffffff81200000n, data, memsz: 0x2000 },
];

test('a vmlinux without the PVH note: segments at their physical addresses, bss zeroed, 64-bit entry with a made-up zero page', () => {
  const mem = makeMemory(64 * MiB);
  mem.view(0x1200100, 16).fill(0xee); // bss must come out zeroed
  const img = buildElf64({ entry: 0x1000000n, segments: segs });
  assert.equal(detectKernelFormat(img, 'vmlinux'), 'vmlinux');
  const s = loadVmlinux(mem, img, { fileName: 'vmlinux', cmdline: 'console=ttyS0', memBytes: 64 * MiB, initrd: { name: 'initrd', data: new Uint8Array(5000).fill(3) }, acpiRsdpAddr: 0xf0100 });
  assert.deepEqual(mem.read(0x1000000, text.length), text);
  assert.deepEqual(mem.read(0x1200000, data.length), data);
  assert.ok(mem.read(0x1200100, 0x1f00).every((b) => b === 0));
  assert.equal(reg(s.registers, REG.rip), 0x1000000n);
  assert.equal(reg(s.registers, REG.rsi), 0x7000n);
  assert.equal(seg(s.registers, 'cs').attrs & (1 << 13), 1 << 13, 'CS.L: long mode');
  const zp = new DataView(mem.read(0x7000, 4096).buffer);
  assert.equal(zp.getUint16(0x1fe, true), 0xaa55);
  assert.equal(zp.getUint32(0x202, true), 0x53726448);
  assert.equal(zp.getUint8(0x210), 0xff);
  assert.equal(zp.getUint32(0x228, true), 0x20000);
  const rdAddr = zp.getUint32(0x218, true);
  assert.equal(zp.getUint32(0x21c, true), 5000);
  assert.ok(rdAddr >= 0x1202000 && rdAddr + 5000 <= 64 * MiB);
  assert.equal(Number(zp.getBigUint64(0x70, true)), 0xf0100, 'acpi_rsdp_addr');
  assert.match(s.summary, /vmlinux ELF64 at 0x1000000 .*64-bit entry/);
});

test('a vmlinux with XEN_ELFNOTE_PHYS32_ENTRY: PVH entry in 32-bit protected mode with hvm_start_info in EBX', () => {
  const mem = makeMemory(64 * MiB);
  const img = buildElf64({ entry: 0x1000000n, segments: segs, pvhEntry: 0x1000100 });
  const s = loadVmlinux(mem, img, { fileName: 'vmlinux', cmdline: 'console=ttyS0 x', memBytes: 64 * MiB, initrd: { name: 'initrd', data: new Uint8Array(4096).fill(9) }, acpiRsdpAddr: 0xf0100 });
  assert.equal(reg(s.registers, REG.rip), 0x1000100n);
  assert.equal(reg(s.registers, REG.rbx), BigInt(PVH_START_INFO_ADDR));
  assert.equal(reg(s.registers, REG.cr0) & 0x8000_0001n, 1n, 'PE set, PG clear');
  assert.equal(reg(s.registers, REG.cr4), 0n);
  assert.equal(reg(s.registers, msrReg(MSR.IA32_EFER)), 0n);
  assert.equal(reg(s.registers, REG.rflags) & 0x200n, 0n, 'IF clear');
  const cs = seg(s.registers, 'cs');
  assert.equal(cs.attrs & (1 << 14), 1 << 14, 'CS.D: 32-bit');
  assert.equal(cs.limit, 0xffffffff);
  const tr = seg(s.registers, 'tr');
  assert.deepEqual([tr.base, tr.limit, tr.attrs & 0xf], [0n, 0x67, 0xb], 'TR: busy 32-bit TSS, base 0, limit 0x67');
  const si = new DataView(mem.read(PVH_START_INFO_ADDR, 56).buffer);
  assert.equal(si.getUint32(0, true), HVM_START_MAGIC);
  assert.equal(si.getUint32(4, true), 1);
  assert.equal(si.getUint32(12, true), 1, 'one module: the initrd');
  assert.equal(Number(si.getBigUint64(16, true)), PVH_MODLIST_ADDR);
  assert.equal(Number(si.getBigUint64(24, true)), 0x20000);
  assert.equal(new TextDecoder().decode(mem.read(0x20000, 16)), 'console=ttyS0 x\0');
  assert.equal(Number(si.getBigUint64(32, true)), 0xf0100);
  assert.equal(Number(si.getBigUint64(40, true)), PVH_MEMMAP_ADDR);
  const n = si.getUint32(48, true);
  const mm = new DataView(mem.read(PVH_MEMMAP_ADDR, n * 24).buffer);
  assert.deepEqual([Number(mm.getBigUint64(0, true)), Number(mm.getBigUint64(8, true)), mm.getUint32(16, true)], [0, 0x9fc00, 1]);
  const mod = new DataView(mem.read(PVH_MODLIST_ADDR, 32).buffer);
  const rd = Number(mod.getBigUint64(0, true));
  assert.equal(Number(mod.getBigUint64(8, true)), 4096);
  assert.ok(mem.read(rd, 4096).every((b) => b === 9));
});

test('bad vmlinux input: another architecture, truncated, no loadable segment; all BootErrors naming the file', () => {
  const arm = buildElf64({ entry: 0x40000000n, machine: 183, segments: [{ paddr: 0x40000000, vaddr: 0x40000000n, data: text, memsz: text.length }] });
  assertBootError(() => detectKernelFormat(arm, 'Image'), 'Image', /vmlinux for another architecture: ELF 64-bit little-endian AArch64 \(EM 183\)/);
  const riscv32 = arm.slice();
  riscv32[4] = 1;
  riscv32[0x12] = 243;
  assertBootError(() => detectKernelFormat(riscv32, 'k'), 'k', /another architecture.*RISC-V/);
  const ok = buildElf64({ entry: 0x1000000n, segments: segs });
  assertBootError(() => loadVmlinux(makeMemory(64 * MiB), ok.subarray(0, 200), { fileName: 'v', cmdline: '', memBytes: 64 * MiB }), 'v', /truncated ELF64 image/);
  assertBootError(() => loadVmlinux(makeMemory(16 * MiB), ok, { fileName: 'v', cmdline: '', memBytes: 16 * MiB }), 'v', /kernel too large for guest RAM/);
  const big = new Uint8Array(40 * MiB);
  assertBootError(() => loadVmlinux(makeMemory(40 * MiB), ok, { fileName: 'v', cmdline: '', memBytes: 40 * MiB, initrd: { name: 'big.cpio', data: big } }), 'v', /initrd big\.cpio \(40 MiB\) is too big/);
});
