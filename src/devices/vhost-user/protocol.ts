/**
 * The vhost-user protocol (QEMU's docs/interop/vhost-user.rst, which cloud-hypervisor, SPDK and DPDK
 * implement): a front-end (the VMM) hands a virtio device's queues to a back-end process over a Unix
 * socket. Each message is a 12-byte header (request, flags, payload size) and a payload; file
 * descriptors (guest RAM memfds, kick and call eventfds) travel with it as SCM_RIGHTS. This module is
 * the message format only: codecs with bounds checks, nothing Node-specific.
 */

export const VHOST_USER_HEADER_SIZE = 12;
/** Flags: protocol version 1 in bits 0-1, REPLY, NEED_REPLY. */
export const VHOST_USER_VERSION = 0x1;
export const VHOST_USER_REPLY = 0x4;
export const VHOST_USER_NEED_REPLY = 0x8;
/** Largest payload accepted from a peer (GET_CONFIG's 256 bytes of config + 12, a full memory table). */
export const VHOST_USER_MAX_PAYLOAD = 4096;
export const VHOST_USER_MAX_REGIONS = 8;

export const REQ = {
  GET_FEATURES: 1,
  SET_FEATURES: 2,
  SET_OWNER: 3,
  RESET_OWNER: 4,
  SET_MEM_TABLE: 5,
  SET_LOG_BASE: 6,
  SET_LOG_FD: 7,
  SET_VRING_NUM: 8,
  SET_VRING_ADDR: 9,
  SET_VRING_BASE: 10,
  GET_VRING_BASE: 11,
  SET_VRING_KICK: 12,
  SET_VRING_CALL: 13,
  SET_VRING_ERR: 14,
  GET_PROTOCOL_FEATURES: 15,
  SET_PROTOCOL_FEATURES: 16,
  GET_QUEUE_NUM: 17,
  SET_VRING_ENABLE: 18,
  GET_CONFIG: 24,
  SET_CONFIG: 25,
  RESET_DEVICE: 34,
} as const;

export const REQ_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(REQ).map(([k, v]) => [v, k]));

/** Virtio feature bit 30: the back-end speaks the protocol-feature extension (and rings start disabled). */
export const VHOST_USER_F_PROTOCOL_FEATURES = 30;

/** Protocol feature bits. */
export const PROTOCOL_F = { MQ: 0, REPLY_ACK: 3, CONFIG: 9, RESET_DEVICE: 13 } as const;

/** SET_VRING_KICK / CALL / ERR payload: queue index in bits 0-7, bit 8 = no fd (polling). */
export const VRING_NOFD = 0x100;

export class VhostUserError extends Error {}

export interface Header {
  readonly request: number;
  readonly flags: number;
  readonly size: number;
}

export function encodeHeader(request: number, flags: number, size: number): Uint8Array {
  const b = new Uint8Array(VHOST_USER_HEADER_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, request, true);
  v.setUint32(4, flags | VHOST_USER_VERSION, true);
  v.setUint32(8, size, true);
  return b;
}

export function decodeHeader(b: Uint8Array): Header {
  const v = new DataView(b.buffer, b.byteOffset, VHOST_USER_HEADER_SIZE);
  const h = { request: v.getUint32(0, true), flags: v.getUint32(4, true), size: v.getUint32(8, true) };
  if ((h.flags & 3) !== VHOST_USER_VERSION) throw new VhostUserError(`vhost-user message ${h.request} has protocol version ${h.flags & 3}, expected 1`);
  if (h.size > VHOST_USER_MAX_PAYLOAD) throw new VhostUserError(`vhost-user message ${REQ_NAMES[h.request] ?? h.request} has a ${h.size}-byte payload (more than ${VHOST_USER_MAX_PAYLOAD})`);
  return h;
}

export function u64(value: bigint | number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(value), true);
  return b;
}

export function readU64(p: Uint8Array, what: string): bigint {
  if (p.length < 8) throw new VhostUserError(`${what}: payload of ${p.length} bytes, expected 8`);
  return new DataView(p.buffer, p.byteOffset, 8).getBigUint64(0, true);
}

/** struct vhost_vring_state: index u32, num u32. */
export function vringState(index: number, num: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, index, true);
  v.setUint32(4, num, true);
  return b;
}

export function readVringState(p: Uint8Array, what: string): { index: number; num: number } {
  if (p.length < 8) throw new VhostUserError(`${what}: payload of ${p.length} bytes, expected 8`);
  const v = new DataView(p.buffer, p.byteOffset, 8);
  return { index: v.getUint32(0, true), num: v.getUint32(4, true) };
}

/** struct vhost_vring_addr: index, flags, desc, used, avail, log (front-end virtual addresses). */
export interface VringAddr {
  readonly index: number;
  readonly flags: number;
  readonly desc: bigint;
  readonly used: bigint;
  readonly avail: bigint;
  readonly log: bigint;
}

export function encodeVringAddr(a: VringAddr): Uint8Array {
  const b = new Uint8Array(40);
  const v = new DataView(b.buffer);
  v.setUint32(0, a.index, true);
  v.setUint32(4, a.flags, true);
  v.setBigUint64(8, a.desc, true);
  v.setBigUint64(16, a.used, true);
  v.setBigUint64(24, a.avail, true);
  v.setBigUint64(32, a.log, true);
  return b;
}

export function decodeVringAddr(p: Uint8Array): VringAddr {
  if (p.length < 40) throw new VhostUserError(`SET_VRING_ADDR: payload of ${p.length} bytes, expected 40`);
  const v = new DataView(p.buffer, p.byteOffset, 40);
  return { index: v.getUint32(0, true), flags: v.getUint32(4, true), desc: v.getBigUint64(8, true), used: v.getBigUint64(16, true), avail: v.getBigUint64(24, true), log: v.getBigUint64(32, true) };
}

/** One region of SET_MEM_TABLE: guest-physical address, size, front-end virtual address, offset in its fd. */
export interface MemRegion {
  readonly guestAddr: number;
  readonly size: number;
  readonly userAddr: bigint;
  readonly mmapOffset: number;
}

export function encodeMemTable(regions: readonly MemRegion[]): Uint8Array {
  if (regions.length > VHOST_USER_MAX_REGIONS) throw new VhostUserError(`vhost-user carries at most ${VHOST_USER_MAX_REGIONS} memory regions, this VM has ${regions.length}`);
  const b = new Uint8Array(8 + 32 * regions.length);
  const v = new DataView(b.buffer);
  v.setUint32(0, regions.length, true);
  regions.forEach((r, i) => {
    const o = 8 + 32 * i;
    v.setBigUint64(o, BigInt(r.guestAddr), true);
    v.setBigUint64(o + 8, BigInt(r.size), true);
    v.setBigUint64(o + 16, r.userAddr, true);
    v.setBigUint64(o + 24, BigInt(r.mmapOffset), true);
  });
  return b;
}

export function decodeMemTable(p: Uint8Array): MemRegion[] {
  if (p.length < 8) throw new VhostUserError(`SET_MEM_TABLE: payload of ${p.length} bytes`);
  const v = new DataView(p.buffer, p.byteOffset, p.length);
  const n = v.getUint32(0, true);
  if (n > VHOST_USER_MAX_REGIONS || p.length < 8 + 32 * n) throw new VhostUserError(`SET_MEM_TABLE: ${n} regions in a ${p.length}-byte payload`);
  const out: MemRegion[] = [];
  for (let i = 0; i < n; i++) {
    const o = 8 + 32 * i;
    const num = (x: bigint, what: string): number => {
      if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw new VhostUserError(`SET_MEM_TABLE region ${i}: ${what} 0x${x.toString(16)} is too large`);
      return Number(x);
    };
    out.push({ guestAddr: num(v.getBigUint64(o, true), 'guest address'), size: num(v.getBigUint64(o + 8, true), 'size'), userAddr: v.getBigUint64(o + 16, true), mmapOffset: num(v.getBigUint64(o + 24, true), 'mmap offset') });
  }
  return out;
}

/** struct vhost_user_config: offset u32, size u32, flags u32, then `size` bytes of the device's config space. */
export function encodeConfig(offset: number, bytes: Uint8Array, flags = 0): Uint8Array {
  const b = new Uint8Array(12 + bytes.length);
  const v = new DataView(b.buffer);
  v.setUint32(0, offset, true);
  v.setUint32(4, bytes.length, true);
  v.setUint32(8, flags, true);
  b.set(bytes, 12);
  return b;
}

export function decodeConfig(p: Uint8Array): { offset: number; size: number; flags: number; bytes: Uint8Array } {
  if (p.length < 12) throw new VhostUserError(`config payload of ${p.length} bytes`);
  const v = new DataView(p.buffer, p.byteOffset, 12);
  const size = v.getUint32(4, true);
  if (12 + size > p.length || size > 256) throw new VhostUserError(`config payload says ${size} bytes in ${p.length - 12}`);
  return { offset: v.getUint32(0, true), size, flags: v.getUint32(8, true), bytes: p.slice(12, 12 + size) };
}
