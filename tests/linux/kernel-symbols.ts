// Names guest RIPs of a Linux kernel with its System.map (text symbols only).
// RIPs are emu's signed canonical numbers: 0xffffffff81000000 is -0x7f000000, exact in a double.

/** Where the bzImage loader puts the kernel with nokaslr (LOAD_PHYSICAL_ADDR = 16 MiB, the Debian default). */
export const KERNEL_LOAD_PHYS = 0x100_0000;

export class KernelSymbols {
  private constructor(
    private readonly addrs: Float64Array,
    private readonly names: string[],
    private readonly text: number,
    private readonly etext: number,
    private readonly sinittext: number,
    private readonly einittext: number,
  ) {}

  static parse(map: string): KernelSymbols {
    const rows: [number, string][] = [];
    const special = new Map<string, number>();
    for (const line of map.split('\n')) {
      const m = /^([0-9a-f]{16}) ([TtWw]) (\S+)/.exec(line);
      if (!m) continue;
      const a = Number(BigInt.asIntN(64, BigInt('0x' + m[1]!)));
      rows.push([a, m[3]!]);
      if (m[3] === '_text' || m[3] === '_etext' || m[3] === '_sinittext' || m[3] === '_einittext') special.set(m[3], a);
    }
    rows.sort((x, y) => x[0] - y[0]);
    return new KernelSymbols(
      Float64Array.from(rows.map((r) => r[0])),
      rows.map((r) => r[1]),
      special.get('_text') ?? 0,
      special.get('_etext') ?? 0,
      special.get('_sinittext') ?? 0,
      special.get('_einittext') ?? 0,
    );
  }

  get size(): number {
    return this.names.length;
  }

  /** Kernel virtual address for a RIP, mapping identity-mapped early code (phys = virt - _text + 16 MiB). */
  private virt(rip: number): number | undefined {
    if (rip < 0) return rip;
    const off = rip - KERNEL_LOAD_PHYS;
    if (off >= 0 && off < this.einittext - this.text) return this.text + off;
    return undefined;
  }

  lookup(rip: number): string {
    const v = this.virt(rip);
    if (v === undefined) return rip < 0x100_0000 ? 'low memory (below 16 MiB: setup/boot data)' : 'decompressor (relocated bzImage code)';
    let lo = 0;
    let hi = this.addrs.length - 1;
    if (hi < 0 || v < this.addrs[0]!) return '?';
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.addrs[mid]! <= v) lo = mid;
      else hi = mid - 1;
    }
    const off = v - this.addrs[lo]!;
    return `${this.names[lo]}+0x${off.toString(16)}${rip >= 0 ? ' (phys)' : ''}`;
  }

  /** The function name (no offset) with the phase, for aggregating samples. */
  region(rip: number): string {
    const v = this.virt(rip);
    if (v === undefined) return this.lookup(rip);
    const name = this.lookup(rip).replace(/\+0x[0-9a-f]+/, '');
    const phase = v >= this.sinittext && v < this.einittext ? 'kernel init' : v < this.etext ? 'kernel' : 'kernel (other)';
    return `${phase}: ${name}`;
  }
}
