#!/usr/bin/env node
// Project conventions that the type checker cannot see: kebab-case file names, koffi only in src/sys, an emulator free of Node-only imports and of device imports, ...
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, basename } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const problems = [];
const files = [];
(function walk(d) {
  for (const e of readdirSync(d)) {
    const p = join(d, e);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.ts')) files.push(p);
  }
})(join(root, 'src'));

const importRe = /(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
for (const f of files) {
  const rel = relative(root, f);
  const text = readFileSync(f, 'utf8');
  const name = basename(f);
  if (!/^[a-z0-9]+(-[a-z0-9]+)*(\.test|\.test-util)?\.ts$/.test(name)) problems.push(`${rel}: file names are kebab-case`);
  const isTest = name.endsWith('.test.ts') || name.endsWith('.test-util.ts');
  for (const m of text.matchAll(importRe)) {
    const spec = m[1] ?? m[2];
    if (spec === 'koffi' && !rel.startsWith('src/sys/')) problems.push(`${rel}: only src/sys/ may import koffi`);
    if (rel.startsWith('src/cpu/emu/') && !isTest) {
      if (spec.startsWith('node:') || ['fs', 'path', 'os', 'child_process', 'worker_threads', 'koffi'].includes(spec)) problems.push(`${rel}: the emulator must stay browser-portable (imports ${spec})`);
      if (/(^|\/)devices\//.test(spec)) problems.push(`${rel}: the emulator reaches devices through the bus, not by importing ${spec}`);
    }
    // Emu modules import cpu.ts for its types only (constants live in x86-defs.ts, which imports nothing),
    // so module initialisation order never depends on cpu.ts; emu-vm.ts and testing/ construct EmuCpus.
    if (rel.startsWith('src/cpu/emu/') && !isTest && rel !== 'src/cpu/emu/emu-vm.ts' && !rel.startsWith('src/cpu/emu/testing/') && /(^|\/)cpu\.js$/.test(spec) && spec.startsWith('.') && !/^\s*(import|export)\s+type\b/.test(m[0].trim())) {
      problems.push(`${rel}: import cpu.js with \`import type\` (constants are in x86-defs.ts)`);
    }
    if (rel === 'src/cpu/emu/x86-defs.ts') problems.push(`${rel}: x86-defs.ts imports nothing (imports ${spec})`);
    if ((rel.startsWith('src/pmu/') || rel.startsWith('src/devices/') || rel.startsWith('src/boot/') || rel.startsWith('src/memory/') || rel.startsWith('src/util/')) && !isTest && /(^|\/)(vmm|cli|api)\//.test(spec)) {
      problems.push(`${rel}: imports point down the layers only (imports ${spec})`);
    }
    if (spec.startsWith('.') && !spec.endsWith('.js')) problems.push(`${rel}: relative ESM imports end in .js (${spec})`);
  }
  if (!isTest && !rel.startsWith('src/cli/') && /\bconsole\.log\(/.test(text)) problems.push(`${rel}: console.log outside the CLI (use src/util/log.ts)`);
  if (/\bdebugger\b/.test(text)) problems.push(`${rel}: leftover debugger statement`);
}
if (problems.length) {
  console.error(problems.join('\n'));
  console.error(`lint: ${problems.length} problem(s)`);
  process.exit(1);
}
console.error(`lint: ${files.length} files clean`);
