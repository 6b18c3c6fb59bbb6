/**
 * The API's routes: each (method, path) of openapi.json, the controller action it performs and
 * how its JSON maps to the action and back. Bodies reach a handler only after the server checked
 * them against the document, so handlers read them without re-checking types.
 */
import type { VmController } from '../vmm/controller.js';
import type { LogLevelName, MachineDescription, VmState } from '../vmm/controller-types.js';
import { ControllerError } from '../vmm/controller-types.js';
import type { NetSpec } from '../vmm/config.js';
import { defaultGuestPath } from '../vmm/vm-builder.js';
import { defaultMac } from '../vmm/virtio-devices.js';
import type { HttpMethod } from './openapi.js';

export type ApiResult = { readonly status: 200; readonly body: unknown } | { readonly status: 204 };

export interface Route {
  readonly method: HttpMethod;
  /** The path as openapi.json writes it. */
  readonly path: string;
  /** Whether the operation takes a body (PUT/PATCH) or must not have one (GET). */
  readonly hasBody: boolean;
  /** `params` holds the path's `{name}` segments. */
  handle(c: VmController, body: Record<string, unknown>, params: Readonly<Record<string, string>>): Promise<ApiResult>;
}

/** Matches a request path against a route path with `{name}` segments; the parameters, or undefined. */
export function matchPath(template: string, path: string): Record<string, string> | undefined {
  const t = template.split('/');
  const p = path.split('/');
  if (t.length !== p.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < t.length; i++) {
    const m = /^\{([a-z_]+)\}$/.exec(t[i]!);
    if (m) {
      if (p[i]!.length === 0) return undefined;
      try {
        params[m[1]!] = decodeURIComponent(p[i]!);
      } catch {
        return undefined; // a malformed escape names nothing
      }
    } else if (t[i] !== p[i]) return undefined;
  }
  return params;
}

/** Firecracker's host_dev_name: a TAP interface's name, or (tsvmm's own) a stream backend. */
function netBackend(host: string, id: string): NetSpec['backend'] {
  const m = /^stream:(listen|connect)=(.+)$/.exec(host);
  if (m) return { kind: 'stream', mode: m[1] as 'listen' | 'connect', address: m[2]! };
  if (/^[^\s/:,]{1,15}$/.test(host)) return { kind: 'tap', ifname: host };
  throw new ControllerError('not-supported', `network interface ${id}: host_dev_name "${host}" is neither a TAP interface name (1-15 characters) nor stream:listen=ADDR or stream:connect=ADDR (a Unix socket path or host:port)`, { field: 'host_dev_name' });
}

const MIB = 1024 * 1024;
const NO_CONTENT: ApiResult = { status: 204 };
const ok = (body: unknown): ApiResult => ({ status: 200, body });

export const API_STATE_NAMES: Readonly<Record<VmState, string>> = { NotStarted: 'Not started', Running: 'Running', Paused: 'Paused', Stopped: 'Stopped' };

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const bool = (v: unknown): boolean | undefined => (typeof v === 'boolean' ? v : undefined);
const int = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

function machineBody(m: MachineDescription): Record<string, unknown> {
  return { vcpu_count: m.cpus, mem_size_mib: Math.floor(m.memBytes / MIB), smt: m.smt, track_dirty_pages: m.trackDirtyPages, huge_pages: 'None' };
}

function machineAction(body: Record<string, unknown>, partial: boolean) {
  const mib = int(body['mem_size_mib']);
  return {
    type: 'set-machine' as const,
    partial,
    machine: {
      ...(int(body['vcpu_count']) !== undefined ? { cpus: int(body['vcpu_count'])! } : {}),
      ...(mib !== undefined ? { memBytes: mib * MIB } : {}),
      ...(bool(body['smt']) !== undefined ? { smt: bool(body['smt'])! } : {}),
      ...(bool(body['track_dirty_pages']) !== undefined ? { trackDirtyPages: bool(body['track_dirty_pages'])! } : {}),
    },
  };
}

/** The Firecracker-cased level name for a level given in any case (checked against the enum before). */
function levelName(v: string | undefined): LogLevelName | undefined {
  if (v === undefined) return undefined;
  const names: readonly LogLevelName[] = ['Error', 'Warning', 'Info', 'Debug', 'Trace', 'Off'];
  return names.find((n) => n.toLowerCase() === v.toLowerCase());
}

export const ROUTES: readonly Route[] = [
  {
    method: 'put',
    path: '/drives/{drive_id}',
    hasBody: true,
    async handle(c, body, params) {
      const id = params['drive_id']!;
      if (body['drive_id'] !== id) throw new ControllerError('invalid-argument', `the drive_id in the body ("${String(body['drive_id'])}") differs from the one in the path ("${id}")`, { field: 'drive_id' });
      const path = str(body['path_on_host']);
      if (path === undefined) throw new ControllerError('invalid-argument', `drive ${id}: path_on_host is required (tsvmm has no vhost-user drives yet)`, { field: 'path_on_host' });
      const serial = str(body['serial']);
      await c.dispatch({ type: 'set-drive', drive: { id, path, readOnly: bool(body['is_read_only']) === true, ...(serial !== undefined ? { serial } : {}) } });
      return NO_CONTENT;
    },
  },
  {
    method: 'put',
    path: '/network-interfaces/{iface_id}',
    hasBody: true,
    async handle(c, body, params) {
      const id = params['iface_id']!;
      if (body['iface_id'] !== id) throw new ControllerError('invalid-argument', `the iface_id in the body ("${String(body['iface_id'])}") differs from the one in the path ("${id}")`, { field: 'iface_id' });
      const mac = str(body['guest_mac']);
      if (mac !== undefined && (parseInt(mac.slice(0, 2), 16) & 1) !== 0) throw new ControllerError('invalid-argument', `guest_mac ${mac} is a multicast address; use a unicast one (even first byte)`, { field: 'guest_mac' });
      await c.dispatch({ type: 'set-network-interface', net: { id, backend: netBackend(str(body['host_dev_name'])!, id), ...(mac !== undefined ? { mac: mac.toLowerCase() } : {}) } });
      return NO_CONTENT;
    },
  },
  {
    method: 'put',
    path: '/entropy',
    hasBody: true,
    async handle(c) {
      await c.dispatch({ type: 'set-entropy' });
      return NO_CONTENT;
    },
  },
  {
    method: 'get',
    path: '/',
    hasBody: false,
    async handle(c) {
      const d = await c.dispatch({ type: 'describe' });
      return ok({ id: d.id, state: API_STATE_NAMES[d.state], vmm_version: d.vmmVersion, app_name: d.appName });
    },
  },
  {
    method: 'put',
    path: '/actions',
    hasBody: true,
    async handle(c, body) {
      const action = body['action_type'];
      if (action === 'InstanceStart') await c.dispatch({ type: 'start' });
      else if (action === 'SendCtrlAltDel') await c.dispatch({ type: 'send-ctrl-alt-del' });
      else await c.dispatch({ type: 'flush-metrics' });
      return NO_CONTENT;
    },
  },
  {
    method: 'put',
    path: '/boot-source',
    hasBody: true,
    async handle(c, body) {
      await c.dispatch({ type: 'set-boot-source', bootSource: { kernel: str(body['kernel_image_path'])!, initrd: str(body['initrd_path']), cmdline: str(body['boot_args']) ?? '' } });
      return NO_CONTENT;
    },
  },
  {
    method: 'get',
    path: '/machine-config',
    hasBody: false,
    async handle(c) {
      return ok(machineBody(await c.dispatch({ type: 'get-machine' })));
    },
  },
  {
    method: 'put',
    path: '/machine-config',
    hasBody: true,
    async handle(c, body) {
      await c.dispatch(machineAction(body, false));
      return NO_CONTENT;
    },
  },
  {
    method: 'patch',
    path: '/machine-config',
    hasBody: true,
    async handle(c, body) {
      await c.dispatch(machineAction(body, true));
      return NO_CONTENT;
    },
  },
  {
    method: 'patch',
    path: '/vm',
    hasBody: true,
    async handle(c, body) {
      const at = body['at_instruction'];
      if (at !== undefined) {
        if (body['state'] !== 'Paused') throw new ControllerError('invalid-argument', 'at_instruction goes with "state": "Paused"', { field: 'at_instruction' });
        // Armed in the controller's queue; the wait for the guest to get there is this request's alone.
        const { reached } = await c.dispatch({ type: 'pause-at', instructions: at as number });
        await reached;
        return NO_CONTENT;
      }
      await c.dispatch({ type: body['state'] === 'Paused' ? 'pause' : 'resume' });
      return NO_CONTENT;
    },
  },
  {
    method: 'get',
    path: '/vm/config',
    hasBody: false,
    async handle(c) {
      const cfg = await c.dispatch({ type: 'get-config' });
      const out: Record<string, unknown> = {};
      const b = cfg.bootSource;
      if (b !== undefined) {
        out['boot-source'] = {
          kernel_image_path: b.kernel ?? defaultGuestPath(),
          ...(b.initrd !== undefined ? { initrd_path: b.initrd } : {}),
          ...(b.cmdline !== undefined && b.cmdline !== '' ? { boot_args: b.cmdline } : {}),
        };
      }
      out['machine-config'] = machineBody(cfg.machine);
      out['drives'] = cfg.drives.map((d) => ({ drive_id: d.id, path_on_host: d.path, is_root_device: false, is_read_only: d.readOnly, ...(d.serial !== undefined ? { serial: d.serial } : {}) }));
      if (cfg.nets.length > 0) out['network-interfaces'] = cfg.nets.map((n, i) => ({ iface_id: n.id, host_dev_name: n.backend.kind === 'tap' ? n.backend.ifname : `stream:${n.backend.mode}=${n.backend.address}`, guest_mac: n.mac ?? defaultMac(i) }));
      if (cfg.entropy) out['entropy'] = {};
      const l = cfg.logger;
      if (l !== undefined) {
        out['logger'] = {
          ...(l.level !== undefined ? { level: l.level } : {}),
          ...(l.logPath !== undefined ? { log_path: l.logPath } : {}),
          ...(l.showLevel !== undefined ? { show_level: l.showLevel } : {}),
          ...(l.showLogOrigin !== undefined ? { show_log_origin: l.showLogOrigin } : {}),
          ...(l.module !== undefined ? { module: l.module } : {}),
        };
      }
      if (cfg.metricsPath !== undefined) out['metrics'] = { metrics_path: cfg.metricsPath };
      return ok(out);
    },
  },
  {
    method: 'put',
    path: '/snapshot/create',
    hasBody: true,
    async handle(c, body) {
      const mem = str(body['mem_file_path']);
      await c.dispatch({ type: 'snapshot-create', snapshotPath: str(body['snapshot_path'])!, ...(mem !== undefined ? { memFilePath: mem } : {}), kind: body['snapshot_type'] === 'Diff' ? 'diff' : 'full' });
      return NO_CONTENT;
    },
  },
  {
    method: 'put',
    path: '/snapshot/load',
    hasBody: true,
    async handle(c, body) {
      const backend = body['mem_backend'] as { backend_type: string; backend_path: string } | undefined;
      if (backend !== undefined && body['mem_file_path'] !== undefined) {
        throw new ControllerError('invalid-argument', 'give either `mem_file_path` or `mem_backend`, not both', { field: 'mem_backend' });
      }
      if (backend?.backend_type === 'Uffd') throw new ControllerError('not-supported', 'field `mem_backend.backend_type`: Uffd is not supported (tsvmm loads guest memory from a file)', { field: 'mem_backend.backend_type' });
      const mem = backend?.backend_path ?? str(body['mem_file_path']);
      await c.dispatch({ type: 'snapshot-load', snapshotPath: str(body['snapshot_path'])!, ...(mem !== undefined ? { memFilePath: mem } : {}), resume: body['resume_vm'] === true });
      return NO_CONTENT;
    },
  },
  {
    method: 'put',
    path: '/migrate',
    hasBody: true,
    async handle(c, body) {
      await c.dispatch({ type: 'migrate', to: str(body['to'])! });
      return NO_CONTENT;
    },
  },
  {
    method: 'put',
    path: '/logger',
    hasBody: true,
    async handle(c, body) {
      const level = levelName(str(body['level']));
      const logPath = str(body['log_path']);
      const showLevel = bool(body['show_level']);
      const showLogOrigin = bool(body['show_log_origin']);
      const module = str(body['module']);
      await c.dispatch({
        type: 'set-logger',
        logger: {
          ...(level !== undefined ? { level } : {}),
          ...(logPath !== undefined ? { logPath } : {}),
          ...(showLevel !== undefined ? { showLevel } : {}),
          ...(showLogOrigin !== undefined ? { showLogOrigin } : {}),
          ...(module !== undefined ? { module } : {}),
        },
      });
      return NO_CONTENT;
    },
  },
  {
    method: 'put',
    path: '/metrics',
    hasBody: true,
    async handle(c, body) {
      await c.dispatch({ type: 'set-metrics', path: str(body['metrics_path'])! });
      return NO_CONTENT;
    },
  },
  {
    method: 'get',
    path: '/features',
    hasBody: false,
    async handle(c) {
      const f = await c.dispatch({ type: 'get-features' });
      return ok({ backend: f.backend, backend_reason: f.backendReason, features: f.features });
    },
  },
  {
    method: 'get',
    path: '/stats',
    hasBody: false,
    async handle(c) {
      const s = await c.dispatch({ type: 'get-stats' });
      return ok({ state: API_STATE_NAMES[s.state], backend: s.backend, exits: s.exits, instructions: s.instructions, pmu: s.pmu, serial_bytes_out: s.serialBytesOut, uptime_ms: s.uptimeMs, stop: s.stop });
    },
  },
];

/**
 * Firecracker resources tsvmm does not have (yet). They are answered as Firecracker answers any
 * path it does not know (400, "Invalid request method and/or path"), with a sentence saying why.
 */
export const UNSUPPORTED_RESOURCES: Readonly<Record<string, string>> = {
  vsock: 'tsvmm has no vsock device yet',
  balloon: 'tsvmm has no balloon device',
  mmds: 'tsvmm has no microVM metadata service',
  pmem: 'tsvmm has no pmem device',
  'cpu-config': 'tsvmm takes a CPU feature manifest on its command line (--cpu-model FILE) instead',
  serial: 'tsvmm configures COM1 on its command line (--serial)',
  hotplug: 'tsvmm has no memory hotplug',
  version: 'use GET / (vmm_version)',
};
