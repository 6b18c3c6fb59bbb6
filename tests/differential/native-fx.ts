/**
 * Runs FX cases natively: the snippet harness with its optional FX_IN/FX_OUT files, so
 * each case starts from its own x87/SSE image and the image at the end comes back.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { decodeResultFile, encodeCaseFile } from '../../src/cpu/emu/testing/snippet-case.js';
import { buildNativeHarness, NativeHarnessError } from './native-harness.js';
import { encodeFxFile, FX_SIZE, type FxCase, type FxResult } from './simd-case.js';

export function runNativeFx(cases: readonly FxCase[], bin = buildNativeHarness()): FxResult[] {
  const dir = join(resolve(dirname(bin)), 'snippets');
  mkdirSync(dir, { recursive: true });
  const tag = `${process.pid}-${Date.now()}-fx`;
  const files = ['cases', 'results', 'fxin', 'fxout'].map((n) => join(dir, `${n}-${tag}.bin`)) as [string, string, string, string];
  writeFileSync(files[0], encodeCaseFile(cases));
  writeFileSync(files[2], encodeFxFile(cases));
  let res: Buffer;
  let fx: Buffer;
  try {
    try {
      execFileSync(bin, files, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 });
    } catch (e) {
      const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new NativeHarnessError(`The native snippet harness failed on ${files[0]}: ${stderr || String(e)}`, e);
    }
    res = readFileSync(files[1]);
    fx = readFileSync(files[3]);
  } finally {
    for (const f of files) rmSync(f, { force: true });
  }
  const results = decodeResultFile(res);
  if (results.length !== cases.length || fx.length !== cases.length * FX_SIZE) {
    throw new NativeHarnessError(`harness returned ${results.length} results and ${fx.length / FX_SIZE} FX images for ${cases.length} cases`);
  }
  return results.map((r, i) => ({ ...r, fx: new Uint8Array(fx.buffer, fx.byteOffset + i * FX_SIZE, FX_SIZE).slice() }));
}
