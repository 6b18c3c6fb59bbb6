/**
 * Page tables for fuzz scenarios, built on the host: a valid identity map of the harness (the low 4 MiB, which
 * the recovery handler needs), valid mappings of the scenario's code and stack at their linear addresses, and
 * then random damage: entries pointing outside RAM or into the MMIO hole, reserved bits, large-page bits where
 * they are reserved, PSE-36 frames above 4 GiB, tables that point at tables (aliases and loops), not-present
 * entries. Entries on the harness's own path are left alone, so the guest keeps recovering.
 */
import type { Prng } from '../differential/prng.js';

export type PagingMode = 'paging32' | 'pae' | 'long';

const P = 1n;
const RW = 2n;
const US = 4n;
const PS = 0x80n;
const NX = 1n << 63n;
const PAGE = 4096;

export interface TablePage {
  readonly phys: number;
  readonly bytes: Uint8Array;
}

export class PageTables {
  private readonly pages = new Map<number, Uint8Array>();
  /** Entries the harness depends on, as "page:index". */
  private readonly protectedEntries = new Set<string>();
  readonly root: number;
  private readonly entrySize: number;

  constructor(
    readonly mode: PagingMode,
    private readonly allocPage: () => number,
  ) {
    this.entrySize = mode === 'paging32' ? 4 : 8;
    this.root = this.newTable();
  }

  private newTable(): number {
    const phys = this.allocPage();
    this.pages.set(phys, new Uint8Array(PAGE));
    return phys;
  }

  private read(table: number, i: number): bigint {
    const v = new DataView(this.pages.get(table)!.buffer);
    return this.entrySize === 4 ? BigInt(v.getUint32(i * 4, true)) : v.getBigUint64(i * 8, true);
  }

  private write(table: number, i: number, e: bigint): void {
    const v = new DataView(this.pages.get(table)!.buffer);
    if (this.entrySize === 4) v.setUint32(i * 4, Number(e & 0xffffffffn), true);
    else v.setBigUint64(i * 8, BigInt.asUintN(64, e), true);
  }

  /** Index bit positions from the root down, and the large-page levels (the level index whose entry may be PS). */
  private levels(): { shifts: number[]; bits: number; largeAt: Set<number> } {
    if (this.mode === 'paging32') return { shifts: [22, 12], bits: 10, largeAt: new Set([0]) };
    if (this.mode === 'pae') return { shifts: [30, 21, 12], bits: 9, largeAt: new Set([1]) };
    return { shifts: [39, 30, 21, 12], bits: 9, largeAt: new Set([1, 2]) };
  }

  /**
   * Maps [linear, linear + size) to phys with pages of `pageSize` (4K, or the mode's large size), marking the path
   * user-accessible when `user` and protecting it from damage when `keep`.
   */
  map(linear: bigint, phys: number, size: number, o: { user: boolean; pageSize?: number; keep?: boolean; nx?: boolean }): void {
    const { shifts, bits, largeAt } = this.levels();
    const pageSize = o.pageSize ?? PAGE;
    const leafLevel = shifts.findIndex((s) => 2 ** s === pageSize);
    if (leafLevel < 0 || (leafLevel < shifts.length - 1 && !largeAt.has(leafLevel))) throw new RangeError(`no ${pageSize}-byte pages in ${this.mode}`);
    const flags = P | RW | (o.user ? US : 0n);
    for (let off = 0; off < size; off += pageSize) {
      const lin = linear + BigInt(off);
      let table = this.root;
      for (let level = 0; level < leafLevel; level++) {
        const i = Number((lin >> BigInt(shifts[level]!)) & BigInt((1 << bits) - 1));
        // PAE's PDPT has 4 entries whose only flag allowed is P.
        const pdpte = this.mode === 'pae' && level === 0;
        let e = this.read(table, i);
        if ((e & P) === 0n || (e & PS) !== 0n) {
          e = BigInt(this.newTable()) | (pdpte ? P : flags);
          this.write(table, i, e);
        } else if (!pdpte && o.user) this.write(table, i, e | US);
        if (o.keep) this.protectedEntries.add(`${table}:${i}`);
        table = Number(e & 0xffffff000n);
      }
      const i = Number((lin >> BigInt(shifts[leafLevel]!)) & BigInt((1 << bits) - 1));
      let leaf = BigInt(phys + off) | flags | (leafLevel < shifts.length - 1 ? PS : 0n) | (o.nx === true && this.mode !== 'paging32' ? NX : 0n);
      if (this.mode === 'paging32' && leafLevel === 0) leaf = BigInt(((phys + off) & 0xffc00000) >>> 0) | flags | PS; // 4 MiB page below 4 GiB
      this.write(table, i, leaf);
      if (o.keep) this.protectedEntries.add(`${table}:${i}`);
    }
  }

  /** Random damage to `count` entries off the harness's path. */
  damage(rng: Prng, count: number, ramBytes: number): void {
    const tables = [...this.pages.keys()];
    const { bits } = this.levels();
    for (let n = 0; n < count; n++) {
      const table = rng.pick(tables);
      const i = this.mode === 'pae' && table === this.root ? rng.below(4) : rng.below(1 << bits);
      if (this.protectedEntries.has(`${table}:${i}`)) continue;
      this.write(table, i, this.randomEntry(rng, tables, ramBytes));
    }
  }

  private randomEntry(rng: Prng, tables: number[], ramBytes: number): bigint {
    const flags = (rng.chance(0.9) ? P : 0n) | (rng.chance(0.7) ? RW : 0n) | (rng.chance(0.6) ? US : 0n) | (rng.chance(0.3) ? PS : 0n) | BigInt(rng.below(256) & 0x78);
    const page = (n: number): bigint => BigInt(n) & ~0xfffn;
    switch (rng.below(8)) {
      case 0:
        return 0n;
      case 1: // a table of this set: aliases, loops, a table used as a page
        return BigInt(rng.pick(tables)) | flags;
      case 2: // any RAM page
        return page(rng.below(ramBytes)) | flags;
      case 3: // the MMIO hole: APIC, IOAPIC, nothing
        return page(rng.pick([0xfee00000, 0xfec00000, 0xc0000000 + rng.below(0x3e000000)])) | flags;
      case 4: // past RAM, above 4 GiB, past MAXPHYADDR
        return (BigInt(rng.pick([0x1_0000_0000, 0x40_0000_0000, 0xff_ffff_f000, 0x7_0000_0000])) + page(rng.below(ramBytes))) | flags;
      case 5: // reserved bits
        return page(rng.below(ramBytes)) | flags | (this.mode === 'paging32' ? 1n << 21n : 1n << BigInt(40 + rng.below(12)));
      case 6: // PSE-36 frames (a 4 MiB page above 4 GiB in 32-bit paging) or NX with or without EFER.NXE
        return this.mode === 'paging32' ? BigInt(rng.below(1024) << 22) | (BigInt(rng.below(256)) << 13n) | P | RW | PS | (rng.chance(0.5) ? US : 0n) : page(rng.below(ramBytes)) | flags | NX;
      default:
        return (BigInt(rng.u32()) << 32n) | BigInt(rng.u32());
    }
  }

  chunks(): TablePage[] {
    return [...this.pages.entries()].map(([phys, bytes]) => ({ phys, bytes }));
  }
}
