/**
 * The control API: HTTP/1.1 over a Unix socket (node:http), Firecracker's paths and shapes for the
 * resources tsvmm has (openapi.json). Every request is checked before it reaches the controller:
 * method and path, body size (MAX_BODY_BYTES), JSON syntax, then the operation's schema (unknown
 * fields, types, ranges), each refused with 400 and a fault_message naming what was wrong. API
 * clients are untrusted (SECURITY.md): nothing they send can crash the VMM or touch the guest except
 * through a valid action, and the socket is created with mode 0600.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { VmController } from '../vmm/controller.js';
import { ControllerError } from '../vmm/controller-types.js';
import { log } from '../util/log.js';
import { checkRequestBody, openApi, type HttpMethod } from './openapi.js';
import { ROUTES, UNSUPPORTED_RESOURCES, matchPath, type Route } from './routes.js';
import { HTTP_STATUS_OF } from './http-errors.js';

/** Firecracker's default request payload limit (its --http-api-max-payload-size). */
export const MAX_BODY_BYTES = 51200;
/** Connections served at once; more wait in the kernel's listen backlog. */
export const MAX_CONNECTIONS = 1000;
/** A Unix socket path longer than this does not fit in sockaddr_un. */
const MAX_SOCKET_PATH = 107;

export interface ApiServerOptions {
  readonly socketPath: string;
  readonly maxBodyBytes?: number;
}

export interface ApiServer {
  readonly socketPath: string;
  /** Stops serving, drops open connections and removes the socket file. */
  close(): Promise<void>;
}

class ApiFault extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const DESERIALIZE = 'An error occurred when deserializing the json body of a request';

function sendJson(res: ServerResponse, status: number, body: unknown, close = false): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), Server: 'tsvmm API', ...(close ? { Connection: 'close' } : {}) });
  res.end(text);
}

function sendFault(res: ServerResponse, status: number, message: string, close = false): void {
  sendJson(res, status, { fault_message: message }, close);
}

/** Firecracker's answer to a method and path it does not serve, naming the first path segment as it does. */
function invalidPath(method: string, resource: string): ApiFault {
  const why = UNSUPPORTED_RESOURCES[resource];
  return new ApiFault(400, `Invalid request method and/or path: ${method} ${resource === '' ? '/' : resource}.${why !== undefined ? ` (${why})` : ''}`);
}

/** Reads the body, refusing more than `limit` bytes (whatever Content-Length said). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        reject(new ApiFault(400, `The request body is larger than the limit of ${limit} bytes.`));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

function normalisePath(url: string | undefined): string {
  let path = (url ?? '/').split('?')[0]!;
  if (!path.startsWith('/')) path = `/${path}`;
  path = path.replace(/\/+/g, '/');
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return path;
}

async function handle(controller: VmController, req: IncomingMessage, res: ServerResponse, maxBody: number): Promise<void> {
  const method = (req.method ?? '').toUpperCase();
  const path = normalisePath(req.url);
  const resource = path.slice(1).split('/')[0] ?? '';
  log.info(`api: ${method} ${path}`);
  const declared = Number(req.headers['content-length'] ?? 0);
  if (Number.isFinite(declared) && declared > maxBody) throw new ApiFault(400, `The request body is larger than the limit of ${maxBody} bytes (Content-Length ${declared}).`);
  const raw = await readBody(req, maxBody);
  const hasBody = raw.length > 0;
  if (method !== 'GET' && method !== 'PUT' && method !== 'PATCH') throw invalidPath(method, resource);
  if (method === 'GET' && hasBody) throw new ApiFault(400, 'GET request cannot have a body.');
  if (method !== 'GET' && !hasBody) throw new ApiFault(400, `Empty ${method} request.`);
  let params: Record<string, string> | undefined;
  const route: Route | undefined = ROUTES.find((r) => r.method === method.toLowerCase() && (params = matchPath(r.path, path)) !== undefined);
  if (route === undefined || params === undefined) throw invalidPath(method, resource);
  let body: Record<string, unknown> = {};
  if (route.hasBody) {
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      throw new ApiFault(400, `${DESERIALIZE}: ${(e as Error).message}.`);
    }
    const issue = checkRequestBody(route.method as HttpMethod, route.path, json);
    if (issue) throw new ApiFault(400, `${DESERIALIZE}: ${issue.message}.`);
    body = json as Record<string, unknown>;
  }
  const result = await route.handle(controller, body, params);
  if (result.status === 204) {
    res.writeHead(204, { Server: 'tsvmm API' });
    res.end();
  } else {
    sendJson(res, 200, result.body);
  }
}

/** Serves the API for `controller` on a new Unix socket at `socketPath` (which must not exist). */
export async function startApiServer(controller: VmController, opts: ApiServerOptions): Promise<ApiServer> {
  const socketPath = opts.socketPath;
  const maxBody = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  openApi(); // a broken document fails here, not at the first request
  if (socketPath.length === 0) throw new ControllerError('invalid-argument', '--api-sock: the path is empty', { field: 'api-sock' });
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) throw new ControllerError('invalid-argument', `--api-sock ${socketPath}: longer than the ${MAX_SOCKET_PATH} bytes a Unix socket path can have`, { field: 'api-sock' });
  if (exists(socketPath)) throw new ControllerError('invalid-argument', `--api-sock ${socketPath}: already exists (another VMM may serve it; remove it if not)`, { field: 'api-sock' });

  // Requests being answered: close() lets them finish (a migrate request is answered as its VM ends).
  const inFlight = new Set<Promise<void>>();
  const server: Server = createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => {
    const p = handle(controller, req, res, maxBody).catch((e: unknown) => {
      if (e instanceof ApiFault) {
        // A refused oversized body is not read to its end: close the connection after the answer.
        sendFault(res, e.status, e.message, /larger than the limit/.test(e.message));
        if (/larger than the limit/.test(e.message)) res.once('finish', () => req.socket.destroy());
      } else if (e instanceof ControllerError) {
        sendFault(res, HTTP_STATUS_OF[e.code], e.message);
      } else {
        log.error(`api: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        sendFault(res, 500, `internal error: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  // Decide on a 100-continue before the body is sent, so a client announcing a huge body is told at once.
  server.on('checkContinue', (req, res) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (Number.isFinite(declared) && declared > maxBody) {
      sendFault(res, 400, `The request body is larger than the limit of ${maxBody} bytes (Content-Length ${declared}).`, true);
      res.once('finish', () => req.socket.destroy());
      return;
    }
    res.writeContinue();
    server.emit('request', req, res);
  });
  // Malformed HTTP (bad request line, oversized headers): a 400 with a fault message, then close.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const text = JSON.stringify({ fault_message: `Malformed HTTP request: ${err.code === 'HPE_HEADER_OVERFLOW' ? 'the headers are larger than 16 KiB' : err.message}.` });
    socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new ControllerError('host-io', `--api-sock ${socketPath}: cannot listen (${e.code === 'EACCES' ? 'permission denied' : e.code === 'ENOENT' ? 'its directory does not exist' : (e.code ?? e.message)})`, { cause: e, field: 'api-sock' })));
    // The socket is born with mode 0600 (Node binds synchronously inside listen()), so no other user
    // can connect in the moment before the chmod below.
    const umask = process.umask(0o177);
    try {
      server.listen(socketPath, () => resolve());
    } finally {
      process.umask(umask);
    }
  });
  server.on('error', (e) => log.error(`api: server error: ${e.message}`));
  try {
    chmodSync(socketPath, 0o600);
  } catch (e) {
    server.close();
    throw new ControllerError('host-io', `--api-sock ${socketPath}: cannot restrict the socket to its owner (${(e as Error).message})`, { cause: e });
  }
  let closed = false;
  return {
    socketPath,
    async close() {
      if (closed) return;
      closed = true;
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Answers under way get a moment to be written; then every connection goes.
      await Promise.race([Promise.allSettled([...inFlight]), new Promise((r) => setTimeout(r, 1000).unref())]);
      await new Promise((r) => setImmediate(r));
      server.closeAllConnections();
      await done;
      try {
        if (lstatSync(socketPath).isSocket()) unlinkSync(socketPath);
      } catch {
        // already removed
      }
    },
  };
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
