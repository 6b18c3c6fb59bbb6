#!/usr/bin/env node
// `npm run web`: bundles the page (web/) with esbuild into web/dist/ and serves it on localhost with the
// COOP/COEP headers that make the page cross-origin isolated (SharedArrayBuffer for the console ring).
// Guest images are served from where tsvmm keeps them: guests/build/ (node scripts/build-guests.mjs) and
// .cache/ (node scripts/fetch-linux-guest.mjs); v86 and SeaBIOS for the browser benchmark.
//   node scripts/web.mjs [--port 8086] [--host 127.0.0.1] [--build-only]
// As a module: `buildWeb()` and `serveWeb({ port })` (the browser tests and bench use them).
import { createServer } from 'node:http';
import { createReadStream, existsSync, mkdirSync, statSync, copyFileSync } from 'node:fs';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const WEB = join(root, 'web');
const OUT = join(WEB, 'dist');

/** Bundles page.ts and worker.ts (and xterm's stylesheet) into web/dist/. */
export async function buildWeb({ quiet = false } = {}) {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch (e) {
    throw new Error(`web: esbuild is not installed (${e.code ?? e.message}): run npm ci`);
  }
  mkdirSync(OUT, { recursive: true });
  const t0 = performance.now();
  await esbuild.build({
    entryPoints: { page: join(WEB, 'page.ts'), worker: join(WEB, 'worker.ts'), bench: join(WEB, 'bench.ts') },
    outdir: OUT,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    minify: false,
    logLevel: quiet ? 'error' : 'warning',
  });
  copyFileSync(join(root, 'node_modules', '@xterm', 'xterm', 'css', 'xterm.css'), join(OUT, 'xterm.css'));
  if (!quiet) process.stderr.write(`web: bundled into web/dist/ in ${(performance.now() - t0).toFixed(0)} ms\n`);
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.map': 'application/json', '.wasm': 'application/wasm', '.json': 'application/json' };

/** URL path → file, only below the folders the page may read. */
function resolve(urlPath) {
  const p = decodeURIComponent(urlPath.split('?')[0]);
  const routes = [
    ['/images/linux/', join(root, '.cache', 'linux-guest')],
    ['/images/debian-kernel/', join(root, '.cache', 'debian-kernel')],
    ['/images/', join(root, 'guests', 'build')],
    ['/v86/', join(root, 'node_modules', 'v86', 'build')],
    ['/seabios/', '/usr/share/seabios'],
    ['/', OUT],
  ];
  if (p === '/' || p === '/index.html') return join(WEB, 'index.html');
  if (p === '/page.css') return join(WEB, 'page.css');
  if (p === '/bench.html') return join(WEB, 'bench.html');
  if (p === '/images/linux/vmlinuz') return join(root, '.cache', 'debian-kernel', 'vmlinuz');
  for (const [prefix, dir] of routes) {
    if (!p.startsWith(prefix)) continue;
    const f = normalize(join(dir, p.slice(prefix.length)));
    if (f !== dir && !f.startsWith(dir + sep)) return undefined;
    return f;
  }
  return undefined;
}

/** Serves the page; resolves with the server and its URL once listening. */
/** `isolate: false` leaves out COOP/COEP (a page without SharedArrayBuffer, to check the message fallback). */
export function serveWeb({ port = 8086, host = '127.0.0.1', quiet = false, isolate = true } = {}) {
  const server = createServer((req, res) => {
    const headers = {
      // Cross-origin isolation: SharedArrayBuffer and Atomics.waitAsync for COM1's rings.
      ...(isolate ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {}),
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    };
    const f = req.method === 'GET' || req.method === 'HEAD' ? resolve(req.url ?? '/') : undefined;
    let st;
    try {
      st = f !== undefined ? statSync(f) : undefined;
    } catch {
      st = undefined;
    }
    if (!st || !st.isFile()) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' });
      res.end(`not found: ${req.url}\n`);
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(f)] ?? 'application/octet-stream', 'Content-Length': st.size });
    if (req.method === 'HEAD') res.end();
    else createReadStream(f).pipe(res);
  });
  return new Promise((resolveListen, reject) => {
    server.once('error', (e) => reject(new Error(`web: cannot listen on ${host}:${port} (${e.code ?? e.message}): pass --port N`)));
    server.listen(port, host, () => {
      const a = server.address();
      const url = `http://${host}:${a.port}/`;
      if (!quiet) process.stderr.write(`web: serving ${url} (Ctrl-C stops)\n`);
      resolveListen({ server, url });
    });
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const opt = (n, d) => {
    const i = args.indexOf(n);
    return i >= 0 && i + 1 < args.length ? args[i + 1] : d;
  };
  try {
    await buildWeb();
    if (!args.includes('--build-only')) {
      if (!existsSync(join(root, 'guests', 'build', 'demo.elf'))) process.stderr.write('web: guests/build/demo.elf is missing: node scripts/build-guests.mjs builds the guests\n');
      await serveWeb({ port: Number(opt('--port', '8086')), host: opt('--host', '127.0.0.1') });
    }
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  }
}
