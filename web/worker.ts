// The machine's Worker: tsvmm's emulated PC (src/web/machine-worker.ts), bundled for the page.
import '../src/web/machine-worker.js';
