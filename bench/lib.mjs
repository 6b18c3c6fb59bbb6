// Shared helpers for the benchmarks: spawn-and-time, medians, table printing, option parsing.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

/**
 * node:util parseArgs for a bench script: a wrong or unknown option ends the script with a one-line error
 * naming it and the script's options (no stack trace). `--help` lists the options.
 */
export function benchArgs(script, config) {
  const names = Object.entries(config.options ?? {}).map(([k, v]) => `--${k}${v.type === 'string' ? ' X' : ''}`).join(' ');
  if (process.argv.slice(2).some((a) => a === '--help' || a === '-h')) {
    console.log(`usage: node ${script} [${names}]`);
    process.exit(0);
  }
  try {
    return parseArgs(config);
  } catch (e) {
    console.error(`${script}: ${e.message}; its options: ${names || '(none)'}`);
    process.exit(2);
  }
}

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const tsvmmBin = join(root, 'bin', 'tsvmm.js');

export function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

/**
 * Spawns a command and resolves with the time (ms) from spawn to the first byte on stdout,
 * then kills it. Rejects after `timeoutMs`.
 */
export function timeToFirstByte(cmd, args, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    let done = false;
    const timer = setTimeout(() => finish(new Error(`no output within ${timeoutMs} ms: ${err.trim().split('\n').pop() ?? ''}`)), timeoutMs);
    function finish(e, v) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      e ? reject(e) : resolve(v);
    }
    child.stdout.once('data', () => finish(undefined, Number(process.hrtime.bigint() - t0) / 1e6));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => finish(new Error(`exited (${code}) before any output: ${err.trim().split('\n').pop() ?? ''}`)));
  });
}

/** RSS in KiB of a live process. */
export function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

let clkTck = 0;

/** CPU seconds (user + system, all threads) a live process has used so far; NaN when it is gone. */
export function cpuSeconds(pid) {
  if (clkTck === 0) clkTck = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / clkTck; // fields 14 and 15: utime, stime (clock ticks)
  } catch {
    return NaN;
  }
}

export function printTable(title, rows) {
  console.log(`\n== ${title}`);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  for (const r of rows) console.log('  ' + r.map((c, i) => String(c).padEnd(widths[i])).join('  '));
}
