/**
 * Decoded-block cache shared by the vCPUs of one VM, keyed by guest-physical address
 * and decode mode. Pages holding decoded code are tracked so that a guest write to
 * them (which always takes the slow write path: write TLB entries are never created
 * for code pages) invalidates their blocks.
 */
import type { Block } from './insn.js';

export interface CodeCacheClient {
  dropWriteEntries(ppage: number): void;
  blockInvalidated(b: Block): void;
}

export class CodeCache {
  private readonly blocks = new Map<number, Block>();
  private readonly pages = new Map<number, Block[]>();
  private readonly clients: CodeCacheClient[] = [];
  /** Blocks invalidated by writes so far (diagnostics, tests). */
  invalidations = 0;

  attach(c: CodeCacheClient): void {
    this.clients.push(c);
  }

  /** True when physical page base `pp` holds decoded code. */
  isCode(pp: number): boolean {
    return this.pages.has(pp);
  }

  get(pa: number, mode: number): Block | undefined {
    return this.blocks.get(pa * 4 + mode);
  }

  put(b: Block, _by: CodeCacheClient): void {
    this.blocks.set(b.phys * 4 + b.mode, b);
    const pp = b.phys - (b.phys % 4096);
    let list = this.pages.get(pp);
    if (list === undefined) {
      list = [];
      this.pages.set(pp, list);
      for (const c of this.clients) c.dropWriteEntries(pp / 4096);
    }
    list.push(b);
  }

  /** Drops every block of page `pp` (a guest write hit it). */
  invalidatePage(pp: number, _by: CodeCacheClient): void {
    const list = this.pages.get(pp);
    if (list === undefined) return;
    this.pages.delete(pp);
    for (const b of list) {
      b.valid = false;
      this.blocks.delete(b.phys * 4 + b.mode);
      this.invalidations++;
      for (const c of this.clients) c.blockInvalidated(b);
    }
  }

  /** Drops everything (memory map change, reset). */
  clear(): void {
    for (const list of this.pages.values()) for (const b of list) b.valid = false;
    this.blocks.clear();
    this.pages.clear();
  }
}
