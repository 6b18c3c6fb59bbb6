import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOptions } from './options.js';
import { ConfigError } from '../vmm/config.js';

const SPECS = {
  mem: { type: 'string', value: 'SIZE' },
  output: { type: 'string', short: 'o', value: 'FILE' },
  verbose: { type: 'boolean', short: 'v' },
  'pmu-filter': { type: 'string' },
} as const;

test('values: separate, inline, short, attached; a value may start with a dash; the last repeat wins', () => {
  const r = parseOptions('run', ['--mem', '-5', '-o', 'x', '-v', 'k.elf'], SPECS, 1);
  assert.deepEqual(r.values, { mem: '-5', output: 'x', verbose: true });
  assert.deepEqual(r.positionals, ['k.elf']);
  assert.deepEqual(parseOptions('run', ['--mem=1G', '-ofile', '--mem', '2G'], SPECS, 0).values, { mem: '2G', output: 'file' });
  assert.deepEqual(parseOptions('run', ['-o=f', '--', '--mem'], SPECS, 1), { values: { output: 'f' }, positionals: ['--mem'], lists: {} });
  const rep = parseOptions('run', ['--drive', 'a.img', '--drive=b.img,ro'], { drive: { type: 'string', repeatable: true } }, 0);
  assert.deepEqual(rep.lists, { drive: ['a.img', 'b.img,ro'] });
  assert.equal(rep.values['drive'], 'b.img,ro');
});

test('mistakes are one ConfigError line naming the option and the command', () => {
  const fails = (args: string[], re: RegExp, max = 1) => assert.throws(() => parseOptions('run', args, SPECS, max), (e: unknown) => e instanceof ConfigError && re.test(e.message) && !e.message.includes('\n'));
  fails(['--frobnicate'], /^unknown option --frobnicate for tsvmm run \(see tsvmm help\)$/);
  fails(['--memory=5'], /^unknown option --memory for tsvmm run \(did you mean --mem\? see tsvmm help\)$/);
  fails(['--pmufilter', 'x'], /did you mean --pmu-filter\?/);
  fails(['--outptu', 'x'], /did you mean --output\?/);
  fails(['-x'], /^unknown option -x for tsvmm run/);
  fails(['--mem'], /^--mem needs a value \(SIZE\)$/);
  fails(['-o'], /^-o needs a value \(FILE\)$/);
  fails(['--verbose=1'], /^--verbose takes no value \(got "1"\)$/);
  fails(['-vq'], /^-v takes no value/);
  fails(['a', 'b'], /^tsvmm run: unexpected argument "b"$/);
  fails(['a'], /^tsvmm run takes no arguments \(got "a"\)$/, 0);
});
