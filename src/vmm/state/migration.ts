/**
 * Live migration between two tsvmm processes over a socket (tcp:HOST:PORT or unix:PATH): pre-copy.
 *
 *   source                                   destination (tsvmm run --incoming ADDR)
 *   HELLO  manifest + machine          --->  builds the VM; diffManifests against its own
 *                                      <---  ACCEPT, or REFUSE naming every difference (nothing moved)
 *   RAM    written pages (the guest runs)--->  copied into its RAM
 *   RAM    pages dirtied meanwhile, rounds  ->  (range- and page-count-bounded dirty log reads)
 *          ... until what is left fits the downtime bound or stops shrinking
 *   pause; FINAL the last dirty pages,
 *          vCPUs, chips, PMU, devices  --->  checks every section, loads, resumes the guest
 *                                      <---  DONE
 *   the source VM ends ('migrated'; tsvmm exits 0)
 *
 * Every message is a MachineState (each section with its CRC32) behind a u32 type and a u64 length.
 * If anything fails before DONE (refusal, a dropped connection, a bad message) the source resumes
 * its guest if it had paused it, and the guest carries on there with nothing lost; the destination
 * drops what it received.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { existsSync, unlinkSync } from 'node:fs';
import { PAGE_SIZE } from '../../memory/guest-memory.js';
import { ControllerError, type MigrationService, type SnapshotContext } from '../controller-types.js';
import type { BuiltVm } from '../vm-builder.js';
import type { AssembledVm } from '../vm-builder.js';
import { isRawSection, MachineState, type StateSection } from './machine-state.js';
import { applyRamPatch, checkRamSection, dirtyByRegion, encodeRamPages, pagesToSave, ramSectionName } from './ram-state.js';
import { assembleFor, describeVm, loadVmState, machineSection, manifestSection, newStateId, readMachine, readManifest, restoreConfig, vmSections } from './vm-state.js';

const MSG_HELLO = 1;
const MSG_ACCEPT = 2;
const MSG_REFUSE = 3;
const MSG_RAM = 4;
const MSG_FINAL = 5;
const MSG_DONE = 6;
const MAGIC = 0x5453_4d47; // "TSMG"
/** A message is at most the guest's RAM plus its state; anything larger is a corrupt stream. */
const MAX_MESSAGE = 80 * 1024 ** 3;

export type MigrationAddress = { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string };

export function parseMigrationAddress(text: string, what: string): MigrationAddress {
  const unix = /^unix:(.+)$/.exec(text);
  if (unix) return { kind: 'unix', path: unix[1]! };
  const tcp = /^tcp:(\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(text);
  if (tcp && Number(tcp[2]) <= 65535) return { kind: 'tcp', host: tcp[1]!.replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(tcp[2]) };
  throw new ControllerError('invalid-argument', `${what} "${text}": use tcp:HOST:PORT or unix:PATH`);
}

/** How a migration went (the source's view). */
export interface MigrationReport {
  readonly rounds: number;
  readonly pagesSent: number;
  readonly bytesSent: number;
  readonly totalMs: number;
  /** From pausing the guest here to the destination saying it runs it. */
  readonly downtimeMs: number;
  /**
   * From pausing the guest here to the destination resuming it, by the two processes' wall clocks (the
   * destination says when in DONE): without DONE's trip back, so closer to what the guest sees, and exact
   * only when both run on one host (or with synchronised clocks).
   */
  readonly stoppedMs: number;
  /** Where the downtime went: pausing, reading the last dirty pages and state, sending, the destination's load and resume. */
  readonly phases: { readonly pauseMs: number; readonly collectMs: number; readonly sendMs: number; readonly remoteMs: number; readonly finalPages: number };
  /** The guest's share of time withheld by auto-converge at the end (0: not throttled). */
  readonly throttle: number;
  /**
   * Why pre-copy ended: what was left fitted the downtime bound, the dirty set stopped shrinking even at the
   * strongest throttle, or the round limit was reached.
   */
  readonly precopyEnded: 'fits' | 'stuck' | 'max-rounds';
}

export interface MigrationOptions {
  /** The downtime to aim for: pre-copy ends once the dirty pages left can be sent in this long (default 50 ms). */
  readonly downtimeMs?: number;
  /** At most this many pre-copy rounds (default 30). */
  readonly maxRounds?: number;
  /** Pages one dirty-log read returns at most (the work bound; default 16384). */
  readonly pagesPerRead?: number;
  /**
   * Auto-converge (default on): when the dirty set stops shrinking, the guest is throttled: paused while
   * each round is read and sent, and let run only a shrinking share of the time, until what it dirties
   * between rounds fits the downtime bound.
   */
  readonly autoConverge?: boolean;
}

/** A socket read as whole messages. */
class MessageReader {
  private chunks: Buffer[] = [];
  private have = 0;
  private waiter: (() => void) | undefined;
  private ended: Error | undefined;

  constructor(sock: Socket) {
    sock.on('data', (b: Buffer) => {
      this.chunks.push(b);
      this.have += b.length;
      this.wake();
    });
    sock.on('end', () => this.fail(new Error('the connection was closed')));
    sock.on('close', () => this.fail(new Error('the connection was closed')));
    sock.on('error', (e) => this.fail(e));
  }

  private fail(e: Error): void {
    this.ended ??= e;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private async need(n: number): Promise<Buffer> {
    while (this.have < n) {
      if (this.ended !== undefined) throw this.ended;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.have);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.have = rest.length;
    return out;
  }

  async next(): Promise<{ type: number; body: Uint8Array }> {
    const h = await this.need(16);
    const magic = h.readUInt32LE(0);
    const type = h.readUInt32LE(4);
    const len = h.readUInt32LE(8) + h.readUInt32LE(12) * 0x1_0000_0000;
    if (magic !== MAGIC) throw new Error('not a tsvmm migration stream');
    if (len > MAX_MESSAGE) throw new Error(`a message of ${len} bytes`);
    return { type, body: await this.need(len) };
  }
}

async function send(sock: Socket, type: number, parts: readonly Uint8Array[]): Promise<number> {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(MAGIC, 0);
  h.writeUInt32LE(type, 4);
  h.writeUInt32LE(len >>> 0, 8);
  h.writeUInt32LE(Math.floor(len / 0x1_0000_0000), 12);
  let ok = sock.write(h);
  for (const p of parts) ok = sock.write(p);
  if (!ok) {
    await new Promise<void>((resolve, reject) => {
      const onDrain = (): void => {
        sock.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        sock.off('drain', onDrain);
        reject(new Error('the connection was closed'));
      };
      sock.once('drain', onDrain);
      sock.once('close', onClose);
    });
  }
  return len + 16;
}

function connectTo(a: MigrationAddress): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = a.kind === 'unix' ? connect(a.path) : connect(a.port, a.host);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Auto-converge's limit: the guest keeps at least 1/64 of the time. */
const MAX_THROTTLE = 1 - 1 / 64;

/** The source side: the controller's MigrationService. */
export class SocketMigration implements MigrationService {
  lastReport: MigrationReport | undefined;
  constructor(private readonly opts: MigrationOptions = {}) {}

  receive(ctx: SnapshotContext, from: string, onListening?: () => void): Promise<void> {
    return receiveMigration(ctx, from, onListening);
  }

  async migrate(ctx: SnapshotContext, to: string): Promise<void> {
    const addr = parseMigrationAddress(to, 'migrate --to');
    const built = ctx.built!;
    const vm = built.vm;
    const mem = vm.memory;
    const t0 = performance.now();
    let sock: Socket;
    try {
      sock = await connectTo(addr);
    } catch (e) {
      throw new ControllerError('host-io', `migration to ${to}: cannot connect (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); the VM keeps running here`, { cause: e });
    }
    const reader = new MessageReader(sock);
    let pausedHere = false;
    const wasPaused = ctx.state === 'Paused';
    try {
      const { manifest, machine } = await describeVm(built, ctx.config, newStateId(), undefined);
      await send(sock, MSG_HELLO, new MachineState([manifestSection(manifest), machineSection(machine)]).encode());
      const reply = await reader.next();
      if (reply.type === MSG_REFUSE) throw new ControllerError('invalid-argument', `migration to ${to} refused before any state moved: ${new TextDecoder().decode(reply.body)}`);
      if (reply.type !== MSG_ACCEPT) throw new Error(`unexpected message ${reply.type} instead of ACCEPT`);

      // Pre-copy: the log starts before the first copy, so every write from here on is caught.
      mem.startDirtyLog();
      let rounds = 1;
      let pagesSent = 0;
      let bytesSent = 0;
      const first = mem.regions.map((r) => {
        const pages = pagesToSave(mem, r);
        pagesSent += pages.length;
        return encodeRamPages(r, pages);
      });
      let tSend = performance.now();
      bytesSent += await send(sock, MSG_RAM, new MachineState(first, true).encode());
      let bytesPerMs = Math.max(1, bytesSent / Math.max(1, performance.now() - tSend));
      const target = this.opts.downtimeMs ?? 50;
      const maxRounds = this.opts.maxRounds ?? 30;
      const perRead = this.opts.pagesPerRead ?? 16384;
      const autoConverge = (this.opts.autoConverge ?? true) && !wasPaused;
      let prev = Infinity;
      let notShrinking = 0;
      let throttle = 0;
      let lastSendMs = 1;
      let precopyEnded: MigrationReport['precopyEnded'] = 'max-rounds';
      for (;;) {
        if (throttle > 0) {
          // The guest runs (1 - throttle) of the time: as long, relative to the last send, then it is paused
          // again for the read and the send, so it can dirty only what it writes in that window. On emu the
          // window is also bounded in instructions (host timers are coarse on a loaded host).
          const windowMs = Math.max(1, (lastSendMs * (1 - throttle)) / throttle);
          const emu = vm as { pauseAt?: (n: number) => Promise<void>; instructionsRetired?: number };
          ctx.resume();
          if (emu.pauseAt !== undefined && emu.instructionsRetired !== undefined) {
            const budget = Math.max(1 << 14, Math.round((1 << 21) * (1 - throttle)));
            await Promise.race([emu.pauseAt(emu.instructionsRetired + budget), sleep(windowMs)]);
          } else await sleep(windowMs);
          await ctx.pause();
        } else await turn(); // the guest runs between rounds (and while a round is sent)
        const dirty = readDirty(vm, perRead * 64);
        const left = dirty.length;
        // The socket's rate is only part of the final step's cost (the state, CRCs on both sides, copying into
        // the destination's RAM cost about as much again each): the last RAM gets a quarter of the bound.
        const fits = left * PAGE_SIZE <= (bytesPerMs * target) / 4;
        notShrinking = left >= prev ? notShrinking + 1 : 0;
        prev = left;
        const stuck = notShrinking >= 3 && (!autoConverge || throttle >= MAX_THROTTLE);
        if (fits || stuck || rounds >= maxRounds) {
          precopyEnded = fits ? 'fits' : stuck ? 'stuck' : 'max-rounds';
          // Put back what was read: the final step reads the log again, with the guest stopped.
          for (const a of dirty) mem.markDirty(a, PAGE_SIZE);
          break;
        }
        if (autoConverge && notShrinking >= 2 && throttle < MAX_THROTTLE) {
          if (throttle === 0) {
            await ctx.pause();
            pausedHere = true;
          }
          throttle = throttle === 0 ? 0.5 : Math.min(MAX_THROTTLE, 1 - (1 - throttle) / 2);
          notShrinking = 0;
        }
        const secs = [...dirtyByRegion(mem, dirty)].map(([r, pages]) => encodeRamPages(r, pages));
        tSend = performance.now();
        const n = await send(sock, MSG_RAM, new MachineState(secs, true).encode());
        lastSendMs = Math.max(0.5, performance.now() - tSend);
        bytesPerMs = Math.max(bytesPerMs * 0.5, n / lastSendMs);
        bytesSent += n;
        pagesSent += left;
        rounds++;
      }

      // Stop-and-copy.
      const tPause = performance.now();
      const wallPause = performance.timeOrigin + tPause;
      if (!wasPaused && !pausedHere) {
        await ctx.pause();
        pausedHere = true;
      }
      const tPaused = performance.now();
      const last = readDirty(vm, Infinity);
      const ram = [...dirtyByRegion(mem, last)].map(([r, pages]) => encodeRamPages(r, pages));
      const final: StateSection[] = [...vmSections(built), ...ram];
      const encoded = new MachineState(final, true).encode();
      const tCollected = performance.now();
      bytesSent += await send(sock, MSG_FINAL, encoded);
      const tSent = performance.now();
      pagesSent += last.length;
      const done = await reader.next();
      if (done.type === MSG_REFUSE) throw new ControllerError('internal', `migration to ${to}: the destination could not load the state: ${new TextDecoder().decode(done.body)}`);
      if (done.type !== MSG_DONE) throw new Error(`unexpected message ${done.type} instead of DONE`);
      const tEnd = performance.now();
      const resumedAt = done.body.length >= 8 ? new DataView(done.body.buffer, done.body.byteOffset, 8).getFloat64(0, true) : NaN;
      this.lastReport = {
        rounds, pagesSent, bytesSent, totalMs: tEnd - t0, downtimeMs: tEnd - tPause, stoppedMs: resumedAt - wallPause,
        phases: { pauseMs: tPaused - tPause, collectMs: tCollected - tPaused, sendMs: tSent - tCollected, remoteMs: tEnd - tSent, finalPages: last.length },
        throttle,
        precopyEnded,
      };
      sock.end();
      ctx.finishMigrated(to);
    } catch (e) {
      sock.destroy();
      // Nothing is lost: the guest carries on here. Pages the failed rounds read are marked again.
      for (const r of mem.regions) mem.markDirty(r.gpa, r.size);
      if (pausedHere) ctx.resume();
      if (e instanceof ControllerError) throw e;
      throw new ControllerError('host-io', `migration to ${to} failed: ${(e as Error).message}; the VM keeps running here`, { cause: e });
    }
  }
}

/** Dirty pages, read in bounded calls over each region (the work bound of the dirty log), up to `max`. */
function readDirty(vm: import('../../cpu/vm.js').Vm, max: number): number[] {
  (vm as { syncDirtyLog?: () => void }).syncDirtyLog?.();
  const out: number[] = [];
  const step = 16384;
  for (const r of vm.memory.regions) {
    for (let a = r.gpa; a < r.gpa + r.size && out.length < max; ) {
      // One range of at most `step` pages per call: the guest's RAM is walked in bounded pieces.
      const len = Math.min(step * PAGE_SIZE, r.gpa + r.size - a);
      const got = vm.memory.collectDirty(a, len, step);
      for (const p of got) out.push(p);
      if (got.length < step) a += len;
    }
  }
  return out;
}

/**
 * The destination side (`tsvmm run --incoming ADDR`): waits for one source, builds the VM it
 * describes (refusing, by name, a feature set this host cannot give exactly), receives RAM while the
 * source runs, then the final state; the VM is handed to the controller and resumed.
 */
export async function receiveMigration(ctx: SnapshotContext, from: string, onListening?: () => void): Promise<void> {
  const addr = parseMigrationAddress(from, '--incoming');
  const server: Server = createServer();
  if (addr.kind === 'unix' && existsSync(addr.path)) unlinkSync(addr.path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new ControllerError('host-io', `--incoming ${from}: cannot listen (${(e as NodeJS.ErrnoException).code ?? e.message})`, { cause: e })));
    if (addr.kind === 'unix') server.listen(addr.path, resolve);
    else server.listen(addr.port, addr.host, resolve);
  });
  onListening?.();
  let a: AssembledVm | undefined;
  let sock: Socket | undefined;
  try {
    sock = await new Promise<Socket>((resolve) => server.once('connection', resolve));
    server.close();
    const reader = new MessageReader(sock);
    const hello = await reader.next();
    if (hello.type !== MSG_HELLO) throw new Error(`unexpected message ${hello.type} instead of HELLO`);
    const source = `migration from ${sock.remoteAddress ?? 'a unix socket'}`;
    const head = MachineState.decode(hello.body, source);
    const manifest = readManifest(head.section('manifest'), source);
    const machine = readMachine(head.section('machine'), source);
    const config = restoreConfig(ctx.config, machine, manifest);
    try {
      a = await assembleFor(config, manifest, ctx.serialSink(), source, machine.backend);
    } catch (e) {
      await send(sock, MSG_REFUSE, [new TextEncoder().encode((e as Error).message)]);
      throw e;
    }
    await send(sock, MSG_ACCEPT, []);
    // Warm the final step's code before the source stops its guest (a fresh process runs it cold, and
    // cold it was a third of the downtime): the new VM, which has not run, loads its own state, a no-op.
    loadVmState(a, MachineState.decode(new MachineState(vmSections(a), true).encodeToBytes(), 'warm-up'), 'warm-up');
    const regions = new Map(a.vm.memory.regions.map((r) => [ramSectionName(r), r]));
    for (;;) {
      const m = await reader.next();
      const state = MachineState.decode(m.body, source);
      if (m.type === MSG_RAM) {
        for (const s of state.sections) {
          const r = isRawSection(s) ? regions.get(s.name) : undefined;
          if (r === undefined || !isRawSection(s)) throw new Error(`section ${s.name} is not guest RAM of this VM`);
          applyRamPatch(a.vm.memory, checkRamSection(s, r, source));
        }
        continue;
      }
      if (m.type !== MSG_FINAL) throw new Error(`unexpected message ${m.type}`);
      try {
        loadVmState(a, state, source, [], machine.backend as 'kvm' | 'emu');
      } catch (e) {
        await send(sock, MSG_REFUSE, [new TextEncoder().encode((e as Error).message)]);
        throw e;
      }
      break;
    }
    const built: BuiltVm = { ...a, boot: { registers: [], entry: 0, summary: `migrated in from ${from}` }, kernelPath: `migration:${from}` };
    a = undefined; // the controller owns it now
    ctx.adoptRestored(built, config);
    ctx.resume();
    const at = new Uint8Array(8);
    new DataView(at.buffer).setFloat64(0, performance.timeOrigin + performance.now(), true);
    await send(sock, MSG_DONE, [at]);
    sock.end();
  } catch (e) {
    sock?.destroy();
    server.close();
    if (a !== undefined) {
      a.devices.destroy();
      a.vm.destroy();
    }
    if (e instanceof ControllerError) throw e;
    throw new ControllerError('host-io', `--incoming ${from}: the migration failed before the guest ran here (${(e as Error).message}); nothing runs here`, { cause: e });
  }
}
