import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pcPlatform } from '../../vmm/platform.js';
import { checksum } from './acpi-header.js';
import { FADT_SIZE, MADT_INTERRUPT_OVERRIDE, MADT_IO_APIC, MADT_LOCAL_APIC, MADT_LOCAL_APIC_NMI, layoutAcpiTables } from './acpi-tables.js';
import { buildFirmwareTables } from './firmware-tables.js';
import { buildSmbios3Entry } from './smbios.js';

const sig = (b: Uint8Array, at = 0, n = 4) => String.fromCharCode(...b.subarray(at, at + n));
const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** A flat 1 MiB "guest" with the tables written in, read back the way an OS does. */
function guestWith(cpus: number, backend: 'emu' | 'kvm') {
  const mem = new Uint8Array(0x100000);
  const t = buildFirmwareTables(pcPlatform(backend, cpus), { cpuSignature: 0x6f1, cpuFeatures: 0x200 }, { vendor: 'tsvmm', product: 'test', version: '1', releaseDate: '01/02/2026' });
  for (const b of t.blobs) mem.set(b.bytes, b.address);
  const table = (addr: number) => mem.subarray(addr, addr + dv(mem).getUint32(addr + 4, true));
  return { mem, t, table };
}

test('RSDP in the BIOS area, 16-byte aligned, both checksums; XSDT and RSDT list FADT and MADT', () => {
  const { mem, t, table } = guestWith(2, 'emu');
  assert.ok(t.rsdpAddr >= 0xe0000 && t.rsdpAddr < 0x100000 && t.rsdpAddr % 16 === 0);
  // Found by the scan an OS does without boot_params.
  let found = -1;
  for (let a = 0xe0000; a < 0x100000; a += 16) if (sig(mem, a, 8) === 'RSD PTR ' && checksum(mem, a, a + 20) === 0) { found = a; break; }
  assert.equal(found, t.rsdpAddr);
  const rsdp = mem.subarray(found, found + 36);
  assert.equal(rsdp[15], 2);
  assert.equal(checksum(rsdp), 0, 'extended checksum');
  const xsdt = table(Number(dv(rsdp).getBigUint64(24, true)));
  const rsdt = table(dv(rsdp).getUint32(16, true));
  assert.equal(sig(xsdt), 'XSDT');
  assert.equal(sig(rsdt), 'RSDT');
  const xs = [0, 1].map((i) => Number(dv(xsdt).getBigUint64(36 + 8 * i, true)));
  assert.equal(xsdt.length, 36 + 16);
  assert.deepEqual(xs.map((a) => sig(table(a))), ['FACP', 'APIC']);
  assert.deepEqual([0, 1].map((i) => dv(rsdt).getUint32(36 + 4 * i, true)), xs);
  for (const a of [...xs, Number(dv(rsdp).getBigUint64(24, true)), dv(rsdp).getUint32(16, true)]) assert.equal(checksum(table(a)), 0, `checksum of ${sig(table(a))}`);
});

test('FADT: PM1a blocks, SCI 9, reset register 0xcf9/6, DSDT and FACS (64-byte aligned) with checksums', () => {
  const { mem, t, table } = guestWith(1, 'emu');
  const fadtBlob = t.blobs.find((b) => b.name === 'ACPI FADT')!;
  const f = table(fadtBlob.address);
  const v = dv(f);
  assert.equal(f.length, FADT_SIZE);
  assert.equal(f[8], 6);
  assert.equal(v.getUint16(46, true), 9);
  assert.equal(v.getUint32(48, true), 0, 'no SMI_CMD: ACPI mode from reset');
  assert.equal(v.getUint32(56, true), 0x600);
  assert.equal(v.getUint32(64, true), 0x604);
  assert.deepEqual([f[88], f[89], f[91]], [4, 2, 4]);
  assert.equal(v.getUint32(76, true), 0x608, 'PM timer');
  assert.ok(v.getUint32(112, true) & (1 << 8), 'TMR_VAL_EXT: 32-bit PM timer');
  assert.equal(v.getUint16(109, true) & 3, 3, 'legacy devices and 8042 present');
  assert.ok(v.getUint32(112, true) & (1 << 10), 'RESET_REG_SUP');
  assert.deepEqual([f[116], f[117], f[119]], [1, 8, 1]);
  assert.equal(Number(v.getBigUint64(120, true)), 0xcf9);
  assert.equal(f[128], 6);
  assert.equal(Number(v.getBigUint64(172 + 4, true)), 0x604, 'X_PM1a_CNT_BLK');
  const facs = v.getUint32(36, true);
  assert.equal(facs % 64, 0);
  assert.equal(sig(mem, facs), 'FACS');
  assert.equal(Number(v.getBigUint64(132, true)), facs);
  const dsdtAddr = v.getUint32(40, true);
  assert.equal(Number(v.getBigUint64(140, true)), dsdtAddr);
  const dsdt = table(dsdtAddr);
  assert.equal(sig(dsdt), 'DSDT');
  assert.equal(checksum(dsdt), 0);
  assert.ok(Buffer.from(dsdt).includes(Buffer.from('085c5f53355f', 'hex')), 'Name(\\_S5_, ...)');
});

function madtEntries(madt: Uint8Array): { type: number; body: Uint8Array }[] {
  const out = [];
  for (let at = 44; at < madt.length; at += madt[at + 1]!) out.push({ type: madt[at]!, body: madt.subarray(at, at + madt[at + 1]!) });
  return out;
}

test('MADT: one enabled local APIC per vCPU, the IOAPIC, IRQ0->GSI2 on emu only, SCI level-high, LINT1 NMI', () => {
  for (const [backend, cpus] of [['emu', 4], ['kvm', 3]] as const) {
    const { t, table } = guestWith(cpus, backend);
    const madt = table(t.blobs.find((b) => b.name === 'ACPI MADT')!.address);
    assert.equal(dv(madt).getUint32(36, true), 0xfee00000);
    assert.equal(dv(madt).getUint32(40, true), 1, 'PCAT_COMPAT');
    const e = madtEntries(madt);
    const lapics = e.filter((x) => x.type === MADT_LOCAL_APIC);
    assert.deepEqual(lapics.map((x) => [x.body[2], x.body[3], x.body[4]]), Array.from({ length: cpus }, (_, i) => [i, i, 1]));
    const io = e.filter((x) => x.type === MADT_IO_APIC);
    assert.equal(io.length, 1);
    assert.equal(dv(io[0]!.body).getUint32(4, true), 0xfec00000);
    const isos = e.filter((x) => x.type === MADT_INTERRUPT_OVERRIDE).map((x) => [x.body[3], dv(x.body).getUint32(4, true), dv(x.body).getUint16(8, true)]);
    assert.deepEqual(isos, backend === 'emu' ? [[0, 2, 0], [9, 9, 0xd]] : [[9, 9, 0xd]]);
    const nmi = e.filter((x) => x.type === MADT_LOCAL_APIC_NMI);
    assert.deepEqual([...nmi[0]!.body], [4, 6, 0xff, 0, 0, 1]);
  }
});

test('MP table: floating pointer and PCMP config with processors, ISA bus, IOAPIC and interrupt entries', () => {
  const { mem, t } = guestWith(2, 'emu');
  let fp = -1;
  for (let a = 0xf0000; a < 0x100000; a += 16) if (sig(mem, a) === '_MP_' && checksum(mem, a, a + 16) === 0) { fp = a; break; }
  assert.equal(fp, t.mpFloatingAddr);
  assert.equal(mem[fp + 11], 0, 'a configuration table is present (no default configuration)');
  const cfgAddr = dv(mem).getUint32(fp + 4, true);
  const len = dv(mem).getUint16(cfgAddr + 4, true);
  const cfg = mem.subarray(cfgAddr, cfgAddr + len);
  assert.equal(sig(cfg), 'PCMP');
  assert.equal(checksum(cfg), 0);
  const count = dv(cfg).getUint16(34, true);
  const entries: number[][] = [];
  for (let at = 44, i = 0; i < count; i++) {
    const size = cfg[at] === 0 ? 20 : 8;
    entries.push([...cfg.subarray(at, at + size)]);
    at += size;
  }
  const procs = entries.filter((e) => e[0] === 0);
  assert.deepEqual(procs.map((p) => [p[1], p[3]]), [[0, 3], [1, 1]], 'APIC IDs, enabled, BSP flag on 0');
  assert.equal(String.fromCharCode(...entries.find((e) => e[0] === 1)!.slice(2, 8)), 'ISA   ');
  const ints = entries.filter((e) => e[0] === 3).map((e) => [e[1], e[5], e[7]]);
  assert.deepEqual(ints[0], [3, 0, 0], 'the 8259 as ExtINT on pin 0');
  assert.deepEqual(ints.find((i) => i[0] === 0 && i[1] === 0), [0, 0, 2], 'IRQ0 on pin 2 (emu)');
  assert.deepEqual(ints.find((i) => i[1] === 4), [0, 4, 4]);
  assert.ok(!ints.some((i) => i[1] === 2 && i[0] === 0), 'IRQ2 is the cascade');
  const locals = entries.filter((e) => e[0] === 4).map((e) => [e[1], e[7]]);
  assert.deepEqual(locals, [[3, 0], [1, 1]]);
});

test('the DSDT disassembles with iasl into _S5 and the PCI root bridge with its _CRS', (t) => {
  if (spawnSync('iasl', ['-v'], { stdio: 'ignore' }).error) {
    t.skip('iasl not installed (Debian: apt-get install acpica-tools)');
    return;
  }
  const { blobs } = layoutAcpiTables(pcPlatform('emu', 1), 0xf0000);
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-dsdt-'));
  try {
    writeFileSync(join(dir, 'dsdt.dat'), blobs.find((b) => b.name === 'ACPI DSDT')!.bytes);
    const r = spawnSync('iasl', ['-d', 'dsdt.dat'], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const dsl = readFileSync(join(dir, 'dsdt.dsl'), 'utf8').replace(/\/\/[^\n]*/g, '');
    assert.match(dsl, /Name \(\\_S5, Package \(0x04\)[^{]*\{\s*Zero,\s*Zero,\s*Zero,\s*Zero\s*\}\)/);
    assert.match(dsl, /Device \(PCI0\)/);
    assert.match(dsl, /Name \(_HID, EisaId \("PNP0A03"\)/);
    assert.match(dsl, /WordBusNumber \(ResourceProducer, MinFixed, MaxFixed, PosDecode,\s*0x0000,\s*0x0000,\s*0x0000,\s*0x0000,\s*0x0001/);
    assert.match(dsl, /IO \(Decode16,\s*0x0CF8,\s*0x0CF8,\s*0x01,\s*0x08/);
    assert.match(dsl, /0xC0000000,[^\n]*\n\s*0xFEBFFFFF/);
    // _PRT: 31 slots x 4 pins, straight to GSIs 16-19 with the swizzle (slot 1 INTA# -> 17, slot 3 INTD# -> 18).
    assert.match(dsl, /Name \(_PRT, Package \(0x7C\)/);
    assert.match(dsl, /Package \(0x04\)\s*\{\s*0x0001FFFF,\s*Zero,\s*Zero,\s*0x11\s*\}/);
    assert.match(dsl, /Package \(0x04\)\s*\{\s*0x0003FFFF,\s*0x03,\s*Zero,\s*0x12\s*\}/);
    assert.match(dsl, /Package \(0x04\)\s*\{\s*0x001FFFFF,\s*0x03,\s*Zero,\s*0x12\s*\}/);
    assert.match(dsl, /Device \(COM1\)[^}]*EisaId \("PNP0501"\)[^}]*IO \(Decode16,\s*0x03F8,\s*0x03F8,\s*0x01,\s*0x08,?\s*\)\s*IRQNoFlags \(\)\s*\{4\}/);
    assert.match(dsl, /Device \(KBD\)[^}]*PNP0303[^]*?IRQNoFlags \(\)\s*\{1\}/);
    assert.match(dsl, /Device \(MOU\)[^}]*PNP0F13[^]*?IRQNoFlags \(\)\s*\{12\}/);
    assert.match(dsl, /Device \(RTC\)[^}]*PNP0B00[^]*?IO \(Decode16,\s*0x0070,\s*0x0070,\s*0x01,\s*0x02[^]*?IRQNoFlags \(\)\s*\{8\}/);
    assert.doesNotMatch(r.stderr + r.stdout, /Error|Warning/i);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SMBIOS: the _SM3_ entry point is found by the BIOS-area scan and its table walks to type 127', () => {
  const { mem, t } = guestWith(2, 'emu');
  let ep = -1;
  for (let a = 0xf0000; a < 0x100000; a += 16) if (sig(mem, a, 5) === '_SM3_' && checksum(mem, a, a + 24) === 0) { ep = a; break; }
  assert.equal(ep, t.smbiosEntryAddr);
  assert.deepEqual([mem[ep + 6], mem[ep + 7], mem[ep + 10]], [24, 3, 1]);
  const len = dv(mem).getUint32(ep + 12, true);
  let at = Number(dv(mem).getBigUint64(ep + 16, true));
  const end = at + len;
  const seen: [number, string[]][] = [];
  while (at < end) {
    const type = mem[at]!;
    let s = at + mem[at + 1]!;
    const strings: string[] = [];
    while (mem[s] !== 0) {
      let e = s;
      while (mem[e] !== 0) e++;
      strings.push(String.fromCharCode(...mem.subarray(s, e)));
      s = e + 1;
    }
    if (strings.length === 0) s++;
    seen.push([type, strings]);
    at = s + 1;
    if (type === 127) break;
  }
  assert.equal(at, end, 'the table length covers exactly the structures');
  assert.deepEqual(seen.map((x) => x[0]), [0, 1, 3, 4, 4, 32, 127]);
  assert.deepEqual(seen[1]![1], ['tsvmm', 'test', '1', 'Virtual Machine']);
  assert.deepEqual(seen[3]![1], ['CPU 0', 'tsvmm']);
});

test('dmidecode reads the SMBIOS tables (as a --dump-bin image) without complaint', (t) => {
  if (spawnSync('dmidecode', ['--version'], { stdio: 'ignore' }).error) return t.skip('dmidecode not installed (Debian: apt-get install dmidecode)');
  const { mem, t: tables } = guestWith(2, 'emu');
  const ep = tables.smbiosEntryAddr;
  const len = dv(mem).getUint32(ep + 12, true);
  const table = mem.slice(Number(dv(mem).getBigUint64(ep + 16, true)), Number(dv(mem).getBigUint64(ep + 16, true)) + len);
  const dump = new Uint8Array(32 + len);
  dump.set(buildSmbios3Entry(32, len), 0); // --dump-bin places the table at offset 32
  dump.set(table, 32);
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-dmi-'));
  try {
    writeFileSync(join(dir, 'dmi.bin'), dump);
    const r = spawnSync('dmidecode', ['--from-dump', join(dir, 'dmi.bin')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /SMBIOS 3\.0\.0 present/);
    assert.match(r.stdout, /System Information\n\tManufacturer: tsvmm\n\tProduct Name: test/);
    assert.match(r.stdout, /System is a virtual machine/);
    assert.equal((r.stdout.match(/Processor Information/g) ?? []).length, 2);
    assert.match(r.stdout, /End Of Table/);
    assert.doesNotMatch(r.stdout + r.stderr, /invalid|wrong|truncated|out of spec|bad /i);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
