#!/usr/bin/env node
// Entry point: the compiled CLI lives in dist/. `./tsvmm` (repo root) builds it on first use.
import { main } from '../dist/src/cli/main.js';
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
