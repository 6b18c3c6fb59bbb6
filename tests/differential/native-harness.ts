/**
 * Builds tests/native/snippet-harness.c with the machine's gcc into .cache/ (never
 * committed) and runs batches of snippet cases on the host CPU.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VmmError } from '../../src/util/errors.js';
import { decodeResultFile, encodeCaseFile, type SnippetCase, type SnippetResult } from '../../src/cpu/emu/testing/snippet-case.js';

export class NativeHarnessError extends VmmError {
  constructor(message: string, cause?: unknown) {
    super('native-harness', message, { cause });
  }
}

/** Repository root, found from this file (compiled under dist/tests/differential/ or run from tests/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'tests', 'native'))) return dir;
    dir = dirname(dir);
  }
  throw new NativeHarnessError('Cannot find the repository root (package.json beside tests/native/) above ' + fileURLToPath(import.meta.url));
}

/** Compiles the harness if the binary is missing or older than its source; returns its path. */
export function buildNativeHarness(root = repoRoot()): string {
  const src = join(root, 'tests', 'native', 'snippet-harness.c');
  const cacheDir = join(root, '.cache');
  const bin = join(cacheDir, 'snippet-harness');
  mkdirSync(cacheDir, { recursive: true });
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    try {
      execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', bin, src], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new NativeHarnessError(`Cannot build the native snippet harness with gcc (install gcc): ${stderr || String(e)}`, e);
    }
  }
  return bin;
}

/** Runs cases natively, in one harness process per batch. */
export function runNative(cases: readonly SnippetCase[], bin = buildNativeHarness()): SnippetResult[] {
  const dir = join(resolve(dirname(bin)), 'snippets');
  mkdirSync(dir, { recursive: true });
  const tag = `${process.pid}-${Date.now()}`;
  const inFile = join(dir, `cases-${tag}.bin`);
  const outFile = join(dir, `results-${tag}.bin`);
  writeFileSync(inFile, encodeCaseFile(cases));
  try {
    execFileSync(bin, [inFile, outFile], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 });
  } catch (e) {
    rmSync(outFile, { force: true });
    const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new NativeHarnessError(`The native snippet harness failed on ${inFile} (kept for replay): ${stderr || String(e)}`, e);
  }
  let results: SnippetResult[];
  try {
    results = decodeResultFile(readFileSync(outFile));
  } finally {
    rmSync(inFile, { force: true });
    rmSync(outFile, { force: true });
  }
  if (results.length !== cases.length) throw new NativeHarnessError(`harness returned ${results.length} results for ${cases.length} cases`);
  return results;
}
