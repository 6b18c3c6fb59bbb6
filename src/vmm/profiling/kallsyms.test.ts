import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bzImageSymbols, elfSections, isBzImage, kallsyms, vmlinuxOf } from './kallsyms.js';
import { Symbolizer } from './elf-symbols.js';

const vmlinuz = fileURLToPath(new URL('../../../../.cache/debian-kernel/vmlinuz', import.meta.url));

test('a Debian bzImage names its functions from kallsyms, without a symbol file', { skip: existsSync(vmlinuz) ? false : 'no .cache/debian-kernel/vmlinuz (node scripts/fetch-debian-kernel.mjs)' }, () => {
  const image = new Uint8Array(readFileSync(vmlinuz));
  assert.ok(isBzImage(image));
  const syms = bzImageSymbols(image);
  assert.ok(syms.length > 30_000, `${syms.length} text symbols`);
  const start = syms.find((s) => s.name === 'start_kernel');
  assert.ok(start !== undefined && start.addr < 0, 'start_kernel, in the kernel half (negative as emu keeps RIP)');
  const lookup = new Symbolizer(syms);
  assert.equal(lookup.lookup(start.addr + 1), 'start_kernel');
  assert.equal(lookup.lookup(0x401000), '[unknown]', 'a user address is not a kernel function');
});

test('kallsyms pairs each name with its own address (checked against the ELF: _stext and _text at .text)', { skip: existsSync(vmlinuz) ? false : 'no .cache/debian-kernel/vmlinuz (node scripts/fetch-debian-kernel.mjs)' }, () => {
  const vmlinux = vmlinuxOf(new Uint8Array(readFileSync(vmlinuz)));
  const sec = elfSections(vmlinux);
  const ro = sec.get('.rodata')!;
  const syms = kallsyms(vmlinux.subarray(ro.offset, ro.offset + ro.size));
  const text = sec.get('.text')!.addr;
  // A table read one entry off (Debian's 6.1.176 has an odd symbol count and a first offset of 0) gives every
  // name its neighbour's address: _text came out 0x70 past .text and start_kernel inside another function.
  assert.equal(syms.get('_text')?.[0], text, '_text');
  assert.equal(syms.get('_stext')?.[0], text, '_stext');
  assert.equal(syms.get('__bss_start')?.[0], sec.get('.bss')!.addr, '__bss_start');
});

test('isBzImage is false for what is not a bzImage', () => {
  assert.equal(isBzImage(new Uint8Array(4096)), false);
  assert.equal(isBzImage(new Uint8Array([0x7f, 0x45, 0x4c, 0x46])), false);
});
