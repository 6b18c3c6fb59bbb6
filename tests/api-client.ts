/**
 * Test client for the control API: starts tsvmm with --api-sock, sends requests with node:http (or
 * curl), and checks EVERY response against src/api/openapi.json before a test looks at it.
 */
import { request, Agent } from 'node:http';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import assert from 'node:assert/strict';
import { checkResponse } from '../src/api/openapi.js';
import { matchPath, ROUTES } from '../src/api/routes.js';
import { tsvmmBin } from './guest-runner.js';

export interface ApiResponse {
  readonly status: number;
  readonly body: string;
  readonly headers: Record<string, string | string[] | undefined>;
  json<T = Record<string, unknown>>(): T;
}

/** The document's path for a request, or undefined when no operation matches (then only a 400 Error is valid). */
export function docPath(method: string, url: string): string | undefined {
  let path = url.split('?')[0]!.replace(/\/+/g, '/');
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return ROUTES.find((r) => r.method === method.toLowerCase() && matchPath(r.path, path) !== undefined)?.path;
}

/** Asserts a response conforms to the OpenAPI document. */
export function assertDocumented(method: string, url: string, status: number, body: string): void {
  const problem = checkResponse(method.toUpperCase(), docPath(method, url), status, body);
  assert.equal(problem, undefined, `${method} ${url} -> ${status} ${body}`);
}

export interface SendOptions {
  readonly headers?: Record<string, string | number>;
  /** Raw body bytes or text; objects are sent as JSON. */
  readonly body?: unknown;
  readonly agent?: Agent;
}

export function send(socketPath: string, method: string, url: string, opts: SendOptions = {}): Promise<ApiResponse> {
  const raw = opts.body === undefined ? undefined : typeof opts.body === 'string' || opts.body instanceof Uint8Array ? opts.body : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path: url, headers: { ...(raw !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(raw) } : {}), ...opts.headers }, ...(opts.agent ? { agent: opts.agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        try {
          assertDocumented(method, url, status, body);
        } catch (e) {
          reject(e as Error);
          return;
        }
        resolve({ status, body, headers: res.headers, json: <T>() => JSON.parse(body) as T });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (raw !== undefined) req.write(raw);
    req.end();
  });
}

export interface TsvmmApi {
  readonly socket: string;
  readonly child: ChildProcess;
  readonly dir: string;
  stdout(): string;
  stderr(): string;
  /** What the guest wrote to COM1, with serialFile (read from the file). */
  serial(): string;
  /** Resolves with the exit status (or signal) once tsvmm ended. */
  readonly exited: Promise<{ status: number | null; signal: NodeJS.Signals | null }>;
  send(method: string, url: string, opts?: SendOptions): Promise<ApiResponse>;
  /** Ends tsvmm if it still runs and removes the temporary directory. */
  cleanup(): Promise<void>;
}

/**
 * Starts `tsvmm <command> --api-sock DIR/api.sock ...args` and waits for the socket. With
 * `serialFile`, COM1 goes to DIR/serial.out: a test that blocks (spawnSync curl) then cannot stall
 * the guest on a full stdout pipe.
 */
export async function startTsvmm(command: 'api' | 'run', args: readonly string[], opts: { serialFile?: boolean } = {}): Promise<TsvmmApi> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-api-'));
  const socket = join(dir, 'api.sock');
  const serialPath = join(dir, 'serial.out');
  const child = spawn(process.execPath, [tsvmmBin, command, '--api-sock', socket, ...(opts.serialFile ? ['--serial', `file:${serialPath}`] : []), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('latin1')));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (status, signal) => resolve({ status, signal })));
  let ended = false;
  void exited.then(() => (ended = true));
  const t0 = Date.now();
  while (!existsSync(socket)) {
    if (ended) throw new Error(`tsvmm ${command} ended before serving the API: ${err}`);
    if (Date.now() - t0 > 30_000) throw new Error(`tsvmm ${command} did not create ${socket}: ${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    socket,
    child,
    dir,
    stdout: () => out,
    stderr: () => err,
    serial: () => (existsSync(serialPath) ? readFileSync(serialPath, 'latin1') : ''),
    exited,
    send: (method, url, opts) => send(socket, method, url, opts),
    async cleanup() {
      if (!ended) {
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Why curl cannot be used here, or false. */
export const noCurl: string | false = spawnSync('curl', ['--version'], { stdio: 'ignore' }).status === 0 ? false : 'curl is not installed (Debian: apt-get install curl)';

/** Runs curl with `args` (after --unix-socket SOCKET -i) and parses its -i output; checks it against the document. */
export function curl(socket: string, args: readonly string[]): { status: number; body: string; head: string } {
  const r = spawnSync('curl', ['--unix-socket', socket, '-i', '-sS', ...args], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `curl ${args.join(' ')}: ${r.stderr}`);
  const text = r.stdout.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, '');
  const split = text.indexOf('\r\n\r\n');
  const head = text.slice(0, split);
  const body = text.slice(split + 4);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
  const x = args.indexOf('-X');
  const method = x >= 0 ? args[x + 1]! : 'GET';
  const url = new URL(args.find((a) => a.startsWith('http://'))!).pathname;
  assertDocumented(method, url, status, body);
  return { status, body, head };
}
