import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readElfSymbols, readSymbolMap, Symbolizer } from './elf-symbols.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

test('symbols of a project guest match what binutils nm reports', { skip: existsSync(join(root, 'guests/build/hello.elf')) ? false : 'guests not built' }, () => {
  const path = join(root, 'guests/build/hello.elf');
  const syms = readElfSymbols(new Uint8Array(readFileSync(path)), path);
  const nm = execFileSync('nm', ['--defined-only', path], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((p) => p.length === 3 && /[tT]/.test(p[1]!));
  assert.ok(nm.length > 3, 'nm lists functions');
  for (const [addr, , name] of nm) {
    const hit = syms.find((s) => s.name === name);
    assert.ok(hit, `symbol ${name} found`);
    assert.equal(hit.addr, parseInt(addr!, 16), `${name} address`);
  }
  const sym = new Symbolizer(syms);
  const main = syms.find((s) => s.size > 0)!;
  assert.equal(sym.lookup(main.addr + Math.floor(main.size / 2)), main.name);
});

test('non-ELF input is a clear error naming the file', () => {
  assert.throws(() => readElfSymbols(new Uint8Array(64), 'x.bin'), /x\.bin: not an ELF file/);
});

test('lookup before the first symbol and past a sized symbol is [unknown]', () => {
  const s = new Symbolizer([
    { addr: 0x1000, size: 0x10, name: 'a' },
    { addr: 0x2000, size: 0, name: 'b' },
  ]);
  assert.equal(s.lookup(0x500), '[unknown]');
  assert.equal(s.lookup(0x1008), 'a');
  assert.equal(s.lookup(0x1010), '[unknown]');
  assert.equal(s.lookup(0x2345), 'b');
});

test('kernel-half addresses stay exact (read as signed 64-bit, like the emulator keeps RIP)', () => {
  const kernelText = -0x7f000000; // 0xffffffff81000000
  const s = new Symbolizer([{ addr: kernelText, size: 0x1000, name: 'startup_64' }, { addr: kernelText + 0x1000, size: 0x10, name: 'next' }]);
  assert.equal(s.lookup(kernelText + 0xfff), 'startup_64');
  assert.equal(s.lookup(kernelText + 0x1000), 'next');
  assert.equal(Number(BigInt.asIntN(64, 0xffffffff81000000n)), kernelText);
});

test('a System.map names kernel-half addresses (signed, as emu keeps RIP) by the nearest text symbol below', () => {
  const map = ['ffffffff81000000 T _text', 'ffffffff81001000 t do_one_initcall', 'ffffffff81002000 D some_data', 'ffffffff81003000 W weak_fn', '0000000000001000 A absolute'].join('\n');
  const syms = readSymbolMap(map, 'System.map');
  assert.deepEqual(syms.map((s) => s.name), ['_text', 'do_one_initcall', 'weak_fn']);
  const lookup = new Symbolizer(syms);
  assert.equal(lookup.lookup(Number(BigInt.asIntN(64, 0xffffffff81001234n))), 'do_one_initcall');
  assert.equal(lookup.lookup(Number(BigInt.asIntN(64, 0xffffffff81003010n))), 'weak_fn');
  assert.equal(lookup.lookup(0x1000), '[unknown]');
  assert.throws(() => readSymbolMap('hello world\n', 'notes.txt'), /notes\.txt: no "ADDRESS T NAME" lines/);
});
