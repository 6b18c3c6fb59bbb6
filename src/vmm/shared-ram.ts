/**
 * Guest RAM another process can map (vhost-user back-ends): each RAM region is a memfd mapped shared,
 * on both engines (kvm maps it into memory slots, emu uses the same bytes as its RAM). The registry
 * remembers each region's fd and host address, which SET_MEM_TABLE sends.
 */
import type { GuestMemory } from '../memory/guest-memory.js';
import { memfdMapping, type NativeMapping } from '../sys/libc.js';
import { VmmError, EXIT } from '../util/errors.js';

export interface SharedRamRegion {
  readonly gpa: number;
  readonly size: number;
  readonly fd: number;
  /** This process's address of the region's first byte (the "user address" of vhost-user). */
  readonly address: bigint;
  readonly offset: number;
}

const registry = new WeakMap<ArrayBufferLike, { fd: number; address: bigint }>();

/** A RAM allocator for either engine: a memfd of `size` bytes, mapped shared and registered. */
export function allocateSharedRam(size: number, name: string): NativeMapping {
  const m = memfdMapping(`tsvmm-${name}`, size);
  registry.set(m.bytes.buffer, { fd: m.fd, address: m.address });
  return m;
}

/** The shared regions of a VM's memory; throws when a region was not allocated with allocateSharedRam. */
export function sharedRamRegions(memory: GuestMemory): SharedRamRegion[] {
  return memory.regions.map((r) => {
    const e = registry.get(r.bytes.buffer);
    if (e === undefined) throw new VmmError('shared-ram', `guest RAM region "${r.name}" is not shared memory, so a vhost-user back-end cannot map it`, { exitCode: EXIT.FAILURE });
    return { gpa: r.gpa, size: r.size, fd: e.fd, address: e.address + BigInt(r.bytes.byteOffset), offset: r.bytes.byteOffset };
  });
}
