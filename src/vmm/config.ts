import { parseSize } from '../util/size.js';
import { isBlkSerial } from '../devices/virtio/virtio-blk.js';

export type AccelChoice = 'kvm' | 'emu' | 'auto';

export type SerialSpec = { readonly kind: 'stdio' } | { readonly kind: 'file'; readonly path: string } | { readonly kind: 'none' };

/** A validated description of one VM to build and run. */
export interface RunConfig {
  /** Kernel image path; undefined boots the built-in demo guest. */
  readonly kernel: string | undefined;
  readonly initrd: string | undefined;
  readonly cmdline: string;
  readonly memBytes: number;
  readonly cpus: number;
  readonly accel: AccelChoice;
  readonly serial: SerialSpec;
  /** Emulator only: time derives from the instruction count, so runs repeat exactly. */
  readonly deterministic: boolean;
  /** Emulator only: offer 5-level paging (CPUID LA57, CR4.LA57); exact beyond +-2^53, code there included (run interpreted). */
  readonly la57?: boolean;
  /** Guest PMU: 'on' requires one, 'off' hides it, 'auto' gives what the backend offers. */
  readonly pmu: PmuChoice;
  /** Architectural PMU shape (version, counters); defaults from src/pmu. */
  readonly pmuShape: PmuShape;
  /** Event filter JSON file (KVM_SET_PMU_EVENT_FILTER semantics). */
  readonly pmuFilter: string | undefined;
  /** A feature manifest (tsvmm caps --json or --baseline) whose CPU features the VM gets: CPUID, PMU. */
  readonly cpuModel?: string;
  /** The same, already loaded: a restored snapshot or a migration's incoming VM gets the feature set it was saved with. */
  readonly cpuModelManifest?: import('../features/manifest.js').FeatureManifest;
  /** Who decompresses a bzImage: tsvmm ('host', the default) or the kernel's own decompressor ('guest'). */
  readonly kernelDecompress?: KernelDecompress;
  /** virtio-blk disks, in PCI slot order (the first is Linux's vda). */
  readonly drives?: readonly DriveSpec[];
  /** virtio-net interfaces. */
  readonly nets?: readonly NetSpec[];
  /** virtio-blk disks served by vhost-user back-ends: their sockets (guest RAM is then shared memory). */
  readonly vhostUserBlks?: readonly string[];
  /** A virtio-rng entropy device fed from the host's CSPRNG. */
  readonly rng?: boolean;
  /** A virtio-console (Linux's hvc0) and where its output goes. */
  readonly virtioConsole?: SerialSpec;
  /**
   * kvm: 'kernel' (the default) binds virtio notifications and interrupts with KVM_IOEVENTFD/KVM_IRQFD where the
   * host has them; 'in-process' sends them through tsvmm's exit path (for comparison). emu is always in process.
   */
  readonly eventChannels?: EventChannelChoice;
}

export type EventChannelChoice = 'kernel' | 'in-process';

export function parseEventChannels(text: string): EventChannelChoice {
  if (text === 'kernel' || text === 'in-process') return text;
  throw new ConfigError(`--event-channels "${text}" is not understood: use kernel (KVM_IOEVENTFD/KVM_IRQFD) or in-process`);
}

/** One virtio-blk disk: a raw image file. */
export interface DriveSpec {
  /** The API's drive_id (CLI drives are drive0, drive1, ...). */
  readonly id: string;
  readonly path: string;
  readonly readOnly: boolean;
  /** What the guest reads as the disk's serial (at most 20 characters). */
  readonly serial?: string;
}

/** One virtio-net interface and the backend it is wired to. */
export interface NetSpec {
  readonly id: string;
  readonly backend: { readonly kind: 'stream'; readonly mode: 'listen' | 'connect'; readonly address: string } | { readonly kind: 'tap'; readonly ifname: string };
  /** "52:54:00:xx:xx:xx"; default derived from the interface's index. */
  readonly mac?: string;
}

/** `--drive PATH[,ro][,serial=S]`. */
export function parseDrive(text: string, index: number): DriveSpec {
  const parts = text.split(',');
  const path = parts[0]!;
  if (path === '') throw new ConfigError(`--drive "${text}" names no image: use --drive PATH[,ro][,serial=S]`);
  let readOnly = false;
  let serial: string | undefined;
  for (const p of parts.slice(1)) {
    if (p === 'ro' || p === 'readonly') readOnly = true;
    else if (p.startsWith('serial=')) {
      serial = p.slice(7);
      if (serial === '' || !isBlkSerial(serial) || serial.includes(',')) throw new ConfigError(`--drive ${text}: serial "${serial}" must be 1-20 printable ASCII characters`);
    } else throw new ConfigError(`--drive ${text}: "${p}" is not understood (use ro or serial=S)`);
  }
  return { id: `drive${index}`, path, readOnly, ...(serial !== undefined ? { serial } : {}) };
}

/** `--net stream:listen=ADDR[,mac=M]` or `--net stream:connect=ADDR[,mac=M]`; ADDR is a Unix socket path or host:port. */
export function parseNet(text: string, index: number): NetSpec {
  const m = /^stream:(listen|connect)=([^,]+)((?:,[^,]+)*)$/.exec(text);
  const tap = /^tap:([^,]{1,15})((?:,[^,]+)*)$/.exec(text);
  if (!m && !tap) throw new ConfigError(`--net "${text}" is not understood: use stream:listen=PATH or stream:connect=PATH (a Unix socket, or host:port), or tap:NAME (a TAP interface), optionally ,mac=52:54:00:12:34:56`);
  let mac: string | undefined;
  for (const p of (m ? m[3]! : tap![2]!).split(',').slice(1)) {
    if (p.startsWith('mac=') && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(p.slice(4)) && (parseInt(p.slice(4, 6), 16) & 1) === 0) mac = p.slice(4);
    else throw new ConfigError(`--net ${text}: "${p}" is not understood (use mac=52:54:00:12:34:56, a unicast address)`);
  }
  const backend: NetSpec['backend'] = m ? { kind: 'stream', mode: m[1] as 'listen' | 'connect', address: m[2]! } : { kind: 'tap', ifname: tap![1]! };
  return { id: `net${index}`, backend, ...(mac !== undefined ? { mac } : {}) };
}

export type KernelDecompress = 'guest' | 'host';

export function parseKernelDecompress(text: string): KernelDecompress {
  if (text === 'guest' || text === 'host') return text;
  throw new ConfigError(`--kernel-decompress "${text}" is not understood: use host (tsvmm decompresses the bzImage) or guest (the kernel does)`);
}

export type PmuChoice = 'on' | 'off' | 'auto';

export interface PmuShape {
  readonly version?: number;
  readonly gpCounters?: number;
  readonly fixedCounters?: number;
}

export function parsePmu(text: string): PmuChoice {
  if (text === 'on' || text === 'off' || text === 'auto') return text;
  throw new ConfigError(`--pmu "${text}" is not understood: use on, off or auto`);
}

export function parseSmallInt(flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new ConfigError(`${flag} "${text}" must be a whole number from ${min} to ${max}`);
  return Number(text);
}

export const MIN_MEM_BYTES = 4 * 1024 * 1024;
export const MAX_MEM_BYTES = 64 * 1024 ** 3;
export const DEFAULT_MEM = '256M';
/** A VMM limit independent of the host; the KVM backend also checks KVM_CAP_MAX_VCPUS. */
export const MAX_CPUS = 64;

export class ConfigError extends RangeError {}

export function parseMem(text: string): number {
  let bytes: number;
  try {
    bytes = parseSize(text, '--mem');
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  if (bytes < MIN_MEM_BYTES) throw new ConfigError(`--mem ${text} is too small: a guest needs at least 4M`);
  if (bytes > MAX_MEM_BYTES) throw new ConfigError(`--mem ${text} is too large: tsvmm supports up to 64G`);
  if (bytes % 4096 !== 0) throw new ConfigError(`--mem ${text} is not a whole number of 4 KiB pages`);
  return bytes;
}

export function parseCpus(text: string): number {
  if (!/^\d+$/.test(text)) throw new ConfigError(`--cpus "${text}" is not a number: give a count between 1 and ${MAX_CPUS}`);
  const n = Number(text);
  if (n < 1 || n > MAX_CPUS) throw new ConfigError(`--cpus ${text} is out of range: give a count between 1 and ${MAX_CPUS}`);
  return n;
}

export function parseAccel(text: string): AccelChoice {
  if (text === 'kvm' || text === 'emu' || text === 'auto') return text;
  throw new ConfigError(`--accel "${text}" is not a backend: use kvm, emu or auto`);
}

export function parseSerial(text: string, flag = '--serial'): SerialSpec {
  if (text === 'stdio') return { kind: 'stdio' };
  if (text === 'none') return { kind: 'none' };
  if (text.startsWith('file:') && text.length > 5) return { kind: 'file', path: text.slice(5) };
  throw new ConfigError(`${flag} "${text}" is not understood: use stdio, file:PATH or none`);
}
