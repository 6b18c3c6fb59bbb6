/**
 * Guest RAM in a machine state: one raw section per memory region holding runs of pages.
 *
 *   payload := u32 run count, then per run (u32 first page, u32 page count), then the pages of
 *              every run in order (4096 bytes each)
 *
 * A full snapshot saves the pages that were ever written (emu reports every guest write, so the
 * memory knows them; under KVM every non-zero page) into a VM whose RAM starts zeroed. A diff, a
 * migration round and the stop-and-copy step save the pages of a dirty-log read, zero or not.
 * Loading checks every run against the region before a byte is copied.
 */
import { PAGE_SIZE, type GuestMemory, type MemoryRegion } from '../../memory/guest-memory.js';
import type { RawSection } from './machine-state.js';
import { StateFileError } from './field-codec.js';

export const RAM_SECTION_KIND = 'guest-ram-pages';
export const RAM_SECTION_VERSION = 1;

export function ramSectionName(region: MemoryRegion): string {
  return `ram.${region.name}`;
}

/** Runs of consecutive page numbers from an ascending list. */
function runsOf(pages: readonly number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const p of pages) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last[0] + last[1] === p) last[1]++;
    else runs.push([p, 1]);
  }
  return runs;
}

/** The section holding `pages` (page numbers within the region, ascending) of `region`. */
export function encodeRamPages(region: MemoryRegion, pages: readonly number[]): RawSection {
  const runs = runsOf(pages);
  const head = 4 + runs.length * 8;
  const out = new Uint8Array(head + pages.length * PAGE_SIZE);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, runs.length, true);
  let at = head;
  runs.forEach(([first, count], i) => {
    dv.setUint32(4 + i * 8, first, true);
    dv.setUint32(8 + i * 8, count, true);
    out.set(region.bytes.subarray(first * PAGE_SIZE, (first + count) * PAGE_SIZE), at);
    at += count * PAGE_SIZE;
  });
  return { name: ramSectionName(region), kind: RAM_SECTION_KIND, version: RAM_SECTION_VERSION, raw: out };
}

/** Pages of `region` a full snapshot must hold: those ever written (when known), without the ones that are zero. */
export function pagesToSave(memory: GuestMemory, region: MemoryRegion): number[] {
  const touched = memory.touchedBitmap(region);
  const words = new Int32Array(region.bytes.buffer, region.bytes.byteOffset, region.bytes.byteLength >>> 2);
  const pages: number[] = [];
  const n = region.size / PAGE_SIZE;
  for (let p = 0; p < n; p++) {
    if (touched !== undefined) {
      const byte = touched[p >>> 3]!;
      if (byte === 0) {
        p |= 7; // the next seven pages are untouched too
        continue;
      }
      if ((byte & (1 << (p & 7))) === 0) continue;
    }
    const w0 = p * (PAGE_SIZE / 4);
    for (let k = w0; k < w0 + PAGE_SIZE / 4; k++) {
      if (words[k] !== 0) {
        pages.push(p);
        break;
      }
    }
  }
  return pages;
}

/** The dirty pages of a dirty-log read (guest-physical addresses), by region, as page numbers. */
export function dirtyByRegion(memory: GuestMemory, gpas: readonly number[]): Map<MemoryRegion, number[]> {
  const out = new Map<MemoryRegion, number[]>();
  for (const a of gpas) {
    const r = memory.find(a);
    if (r === undefined) continue;
    let list = out.get(r);
    if (list === undefined) out.set(r, (list = []));
    list.push((a - r.gpa) / PAGE_SIZE);
  }
  return out;
}

export interface RamPatch {
  readonly region: MemoryRegion;
  readonly runs: readonly (readonly [number, number])[];
  readonly data: Uint8Array;
}

/** Checks a RAM section against `region`; returns what applyRamPatch copies. Throws StateFileError naming the section. */
export function checkRamSection(section: RawSection, region: MemoryRegion, source: string): RamPatch {
  const fail = (what: string): never => {
    throw new StateFileError(`${source}: section ${section.name}: ${what}`);
  };
  if (section.kind !== RAM_SECTION_KIND) fail(`holds ${section.kind}, not guest RAM pages`);
  if (section.version !== RAM_SECTION_VERSION) fail(`RAM section version ${section.version} is not supported (this tsvmm reads version ${RAM_SECTION_VERSION})`);
  const b = section.raw;
  if (b.length < 4) fail('truncated');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const count = dv.getUint32(0, true);
  const head = 4 + count * 8;
  if (head > b.length) fail(`${count} runs do not fit in ${b.length} bytes`);
  const pagesInRegion = region.size / PAGE_SIZE;
  const runs: [number, number][] = [];
  let total = 0;
  let next = 0;
  for (let i = 0; i < count; i++) {
    const first = dv.getUint32(4 + i * 8, true);
    const n = dv.getUint32(8 + i * 8, true);
    if (n === 0 || first < next || first + n > pagesInRegion) fail(`run ${i} (pages ${first}+${n}) is outside region ${region.name} (${pagesInRegion} pages) or out of order`);
    next = first + n;
    total += n;
    runs.push([first, n]);
  }
  if (head + total * PAGE_SIZE !== b.length) fail(`holds ${b.length - head} bytes of pages, its runs say ${total * PAGE_SIZE}`);
  return { region, runs, data: b.subarray(head) };
}

export function applyRamPatch(memory: GuestMemory, patch: RamPatch): void {
  let at = 0;
  for (const [first, n] of patch.runs) {
    patch.region.bytes.set(patch.data.subarray(at, at + n * PAGE_SIZE), first * PAGE_SIZE);
    memory.markDirty(patch.region.gpa + first * PAGE_SIZE, n * PAGE_SIZE);
    at += n * PAGE_SIZE;
  }
}
