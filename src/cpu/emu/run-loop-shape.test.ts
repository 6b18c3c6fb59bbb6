/**
 * execBlock runs once per block and must hold no loop: V8 compiles a function whose loop is hot on stack replacement
 * (OSR), and Node 20's V8 kept entering execBlock's OSR code from its unoptimized frames at every pass of the
 * interpreter loop it held, to deoptimize at the same check each time (~220 000 deopts, realcode's cold 32-bit pass
 * at 49 MIPS instead of ~125, in about one run in ten). The interpreter loop is `interpret`, called per block.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execBlock } from './run-loop.js';

/** The function's source without comments and string literals (either may spell a loop keyword). */
function code(f: (...a: never[]) => unknown): string {
  return f
    .toString()
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/[^\n]*/g, '')
    .replace(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`/g, "''");
}

test('execBlock holds no loop (its interpreter loop is a function of its own)', () => {
  const src = code(execBlock);
  assert.ok(src.length > 1000, 'execBlock source read');
  assert.doesNotMatch(src, /\b(for|while)\s*\(|\bdo\s*\{/);
});
