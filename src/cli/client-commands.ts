/**
 * `tsvmm snapshot` and `tsvmm migrate`: clients of a running tsvmm's API socket (tsvmm run
 * --api-sock), sending the same requests a Firecracker user would send with curl.
 */
import { request } from 'node:http';
import { EXIT } from '../util/errors.js';

interface Reply {
  readonly status: number;
  readonly body: string;
}

function call(socketPath: string, method: string, path: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath, method, path, headers: { accept: 'application/json', ...(data !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

function fault(r: Reply): string {
  try {
    return (JSON.parse(r.body) as { fault_message?: string }).fault_message ?? r.body;
  } catch {
    return r.body;
  }
}

async function expectOk(sock: string, what: string, r: Promise<Reply>): Promise<void> {
  let reply: Reply;
  try {
    reply = await r;
  } catch (e) {
    throw new ClientError(`${what}: cannot reach the tsvmm API at ${sock} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); is it running with --api-sock?`);
  }
  if (reply.status >= 300) throw new ClientError(`${what}: ${fault(reply)}`);
}

class ClientError extends Error {}

/** Pauses the VM (at an exact instruction count, with `atInstruction`), writes the snapshot, then resumes it. */
export async function snapshotCommand(sock: string, file: string, opts: { memFile?: string; diff: boolean; atInstruction?: number }): Promise<number> {
  const { resolve } = await import('node:path');
  try {
    const t0 = performance.now();
    await expectOk(sock, 'pause', call(sock, 'PATCH', '/vm', { state: 'Paused', ...(opts.atInstruction !== undefined ? { at_instruction: opts.atInstruction } : {}) }));
    let failure: unknown;
    try {
      await expectOk(sock, 'snapshot', call(sock, 'PUT', '/snapshot/create', { snapshot_type: opts.diff ? 'Diff' : 'Full', snapshot_path: resolve(file), ...(opts.memFile !== undefined ? { mem_file_path: resolve(opts.memFile) } : {}) }));
    } catch (e) {
      failure = e;
    }
    await expectOk(sock, 'resume', call(sock, 'PATCH', '/vm', { state: 'Resumed' }));
    if (failure !== undefined) throw failure;
    process.stderr.write(`tsvmm: snapshot ${file}${opts.memFile !== undefined ? ` (RAM in ${opts.memFile})` : ''} written in ${(performance.now() - t0).toFixed(0)} ms\n`);
    return EXIT.OK;
  } catch (e) {
    if (!(e instanceof ClientError)) throw e;
    process.stderr.write(`tsvmm: ${e.message}\n`);
    return EXIT.FAILURE;
  }
}

/** Asks the running tsvmm to migrate its guest to `to`; returns once the guest runs there. */
export async function migrateCommand(sock: string, to: string): Promise<number> {
  try {
    const t0 = performance.now();
    await expectOk(sock, 'migrate', call(sock, 'PUT', '/migrate', { to }));
    process.stderr.write(`tsvmm: migrated to ${to} in ${(performance.now() - t0).toFixed(0)} ms\n`);
    return EXIT.OK;
  } catch (e) {
    if (!(e instanceof ClientError)) throw e;
    process.stderr.write(`tsvmm: ${e.message}\n`);
    return EXIT.FAILURE;
  }
}
