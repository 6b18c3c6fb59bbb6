/**
 * A small symbol file for gdb made from a Debian bzImage alone (Debian's real symbols are in its -dbg
 * package, ~860 MB): the kernel carries its whole symbol table as kallsyms (CONFIG_KALLSYMS_ALL) and its
 * types as BTF (CONFIG_DEBUG_INFO_BTF), both inside the compressed vmlinux. This decompresses the payload,
 * decodes kallsyms for the addresses, reads one struct member's offset from BTF, and compiles an ELF with
 * gcc whose sections sit at those addresses, with DWARF types just wide enough for what gdb is asked.
 * (The kallsyms decoder lives in src/vmm/profiling/kallsyms.ts: `tsvmm record` uses it too.)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { elfSections, kallsyms, vmlinuxOf } from '../../src/vmm/profiling/kallsyms.js';

export { elfSections, kallsyms, vmlinuxOf };

/** Byte offset of `member` in `struct name` from the kernel's BTF (struct members, kind 4; bitfield flag honoured). */
export function btfMemberOffset(btf: Uint8Array, struct: string, member: string): number {
  const dv = new DataView(btf.buffer, btf.byteOffset, btf.byteLength);
  if (dv.getUint16(0, true) !== 0xeb9f) throw new Error('BTF: bad magic');
  const hdrLen = dv.getUint32(4, true);
  const typeOff = hdrLen + dv.getUint32(8, true);
  const typeLen = dv.getUint32(12, true);
  const strOff = hdrLen + dv.getUint32(16, true);
  const str = (o: number): string => {
    let s = '';
    for (let p = strOff + o; btf[p] !== 0; p++) s += String.fromCharCode(btf[p]!);
    return s;
  };
  for (let p = typeOff; p < typeOff + typeLen; ) {
    const nameOff = dv.getUint32(p, true);
    const info = dv.getUint32(p + 4, true);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    p += 12;
    if ((kind === 4 || kind === 5) && str(nameOff) === struct) {
      const bitfields = (info >>> 31) === 1;
      for (let k = 0; k < vlen; k++) {
        const q = p + 12 * k;
        if (str(dv.getUint32(q, true)) === member) {
          const off = dv.getUint32(q + 8, true);
          return (bitfields ? off & 0xffffff : off) / 8;
        }
      }
    }
    // Each kind's trailing data (include/uapi/linux/btf.h).
    switch (kind) {
      case 1: case 14: case 17: p += 4; break; // INT, VAR, DECL_TAG
      case 3: p += 12; break; // ARRAY
      case 4: case 5: p += 12 * vlen; break; // STRUCT, UNION
      case 6: case 13: case 15: p += 8 * vlen; break; // ENUM, FUNC_PROTO, DATASEC
      case 19: p += 12 * vlen; break; // ENUM64
      default: break;
    }
  }
  throw new Error(`BTF: no struct ${struct} with member ${member}`);
}

/**
 * Compiles an ELF for gdb: `void NAME(void)` for each function, `struct task_struct init_task` (with `comm`
 * at its offset) and `TYPE NAME` for each variable, every one in a section of its own placed at its kernel
 * address (functions naked, so gdb's breakpoint on one is its first instruction). Returns the path.
 */
export function writeGdbSymbolFile(functions: Map<string, bigint>, variables: Map<string, [bigint, string]>, initTask: bigint, commOffset: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-ksyms-'));
  const c = [
    `struct task_struct { char pad_before_comm[${commOffset}]; char comm[16]; };`,
    `__attribute__((section(".k.init_task"))) struct task_struct init_task;`,
    ...[...variables].map(([n, [, type]]) => `__attribute__((section(".k.${n}"))) ${type} ${n};`),
    ...[...functions.keys()].map((n) => `__attribute__((section(".k.${n}"), naked)) void ${n}(void) {}`),
  ].join('\n');
  writeFileSync(join(dir, 'ksyms.c'), c + '\n');
  const hex = (a: bigint): string => `0x${a.toString(16)}`;
  const starts = [
    `--section-start=.k.init_task=${hex(initTask)}`,
    ...[...variables].map(([n, [a]]) => `--section-start=.k.${n}=${hex(a)}`),
    ...[...functions].map(([n, a]) => `--section-start=.k.${n}=${hex(a)}`),
  ];
  const r = spawnSync('gcc', ['-g', '-O0', '-fno-pic', '-no-pie', '-nostdlib', '-static', '-fno-asynchronous-unwind-tables', '-Wl,-e,0',
    ...starts.map((s) => `-Wl,${s}`), '-o', join(dir, 'ksyms.elf'), join(dir, 'ksyms.c')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gcc: ${r.stderr}`);
  return join(dir, 'ksyms.elf');
}
