/** Test helpers for the `ticker` guest (guests/ticker/): where it is built and what it prints. */
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export function guestElf(name: string): string {
  return join(repoRoot, 'guests', 'build', `${name}.elf`);
}

/** Everything a finite ticker run (lines=N work=W) prints. */
export function tickerOutput(lines: number, work: number): string {
  const ticks = tickerTicks(lines, work);
  const last = /sum ([0-9a-f]{8})\r\n$/.exec(ticks)![1]!;
  return `ticker: ${lines} lines of ${work} steps\r\n${ticks}ticker: done, sum ${last}\r\n`;
}

/** Everything an endless ticker run (lines=0 work=W) prints by its n-th tick. */
export function endlessTickerOutput(n: number, work: number): string {
  return `ticker: 0 lines of ${work} steps\r\n${tickerTicks(n, work)}`;
}

/**
 * For a run that was stopped at any moment: its complete lines, and what an undisturbed endless run
 * prints up to the same tick (the two must be equal).
 */
export function endlessTickerPrefix(text: string, work: number): { printed: string; expected: string } {
  const n = (text.match(/tick \d+ sum [0-9a-f]{8}\r\n/g) ?? []).length;
  return { printed: text.slice(0, text.lastIndexOf('\r\n') + 2), expected: endlessTickerOutput(n, work) };
}

/** The `tick` lines 1..n of an endless run (lines=0), without the first line. */
export function tickerTicks(n: number, work: number): string {
  let x = 1;
  let sum = 0;
  let out = '';
  for (let k = 1; k <= n; k++) {
    for (let i = 0; i < work; i++) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      sum = (sum ^ x) >>> 0;
      sum = ((sum << 5) | (sum >>> 27)) >>> 0;
    }
    out += `tick ${k} sum ${sum.toString(16).padStart(8, '0')}\r\n`;
  }
  return out;
}
