#!/usr/bin/env node
// Entry point: the compiled CLI lives in dist/. `./tsvmm` (repo root) builds it on first use.
import { main, takeExitSignal } from '../dist/src/cli/main.js';
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // A run a signal ended ends by that signal, after the terminal and the VM are cleaned up.
  const signal = takeExitSignal();
  if (signal !== undefined) process.kill(process.pid, signal);
});
