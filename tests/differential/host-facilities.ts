/**
 * What this host can be the oracle for. The native harness runs snippets in a Linux
 * process, so it relies on more than the instructions under test: the LDT segments it
 * installs with modify_ldt, Linux's 32-bit user code segment 0x23 (compatibility mode),
 * 16-bit code entered through the LDT, the kernel's IDT (INT n faulting) and CPL-3 port
 * I/O faulting. Some hosts refuse part of that: a paravirtualized guest kernel (kvm_pvm)
 * runs its processes with its hypervisor's descriptor tables, in which the LDT and 0x23
 * are not there, so loading them raises #GP natively whatever the SDM says.
 *
 * `snippet-harness --probe` runs one small snippet per facility through the same
 * trampolines as the cases and reports whether the CPU gave exactly the architectural
 * result. A case needs a facility when it runs in that facility's mode (a property of
 * the case) or when, run natively, it used one of the facility's selectors or gates (the
 * fault names them: a #GP/#NP/#SS/#TS error code carries the selector, INT n faults at
 * its opcode). Cases that need a missing facility are not compared, and are counted with
 * the reason; on a host that has the facility they run and must match. Port I/O that
 * does not fault is no reason to skip: it means the process may touch real ports, and
 * the harness refuses to run at all.
 */
import { execFileSync } from 'node:child_process';
import { SNIPPET_CODE_BASE, VECTOR_GP, VECTOR_NP, VECTOR_SS, VECTOR_UNSUPPORTED, type SnippetCase, type SnippetResult } from '../../src/cpu/emu/testing/snippet-case.js';
import { NativeHarnessError } from './native-harness.js';

export const FACILITIES = ['ldt', 'compat32', 'iret-compat', 'mode16', 'int-gates', 'cpl3-io'] as const;
export type Facility = (typeof FACILITIES)[number];

/** What each facility lets the harness do, as the end of "this host cannot ...". */
const CANNOT: Record<Facility, string> = {
  ldt: 'load LDT selectors natively',
  compat32: 'run 32-bit compatibility-mode code natively',
  'iret-compat': 'IRETQ from 64-bit code into 32-bit compatibility mode natively',
  mode16: 'run 16-bit protected-mode code natively',
  'int-gates': 'raise INT n / INT3 faults at CPL 3 as under Linux',
  'cpl3-io': 'make port I/O at CPL 3 fault with #GP(0)',
};

export interface FacilityProbe {
  readonly name: Facility;
  readonly ok: boolean;
  /** The probe step that decided (the failing one when missing). */
  readonly ran: string;
  /** What the CPU did in that step. */
  readonly observed: string;
}

const VECTOR_TS = 10;

export class HostFacilities {
  private readonly byName: ReadonlyMap<Facility, FacilityProbe>;

  constructor(readonly probes: readonly FacilityProbe[]) {
    this.byName = new Map(probes.map((p) => [p.name, p]));
    for (const f of FACILITIES) if (!this.byName.has(f)) throw new NativeHarnessError(`the harness probe did not report facility "${f}" (rebuild it: rm -rf .cache/snippet-harness)`);
  }

  has(f: Facility): boolean {
    return this.byName.get(f)?.ok === true;
  }

  /** "this host cannot load LDT selectors natively: mov es, 0x0f (LDT data selector) raised #GP(0xc)". */
  reason(f: Facility): string {
    const p = this.byName.get(f);
    if (p === undefined) return `this host cannot ${CANNOT[f]}`;
    const step = p.ran.split(';')[0]!.trim();
    const fault = /^(#\w+\(0x[0-9a-f]+\)|vector \d+\(0x[0-9a-f]+\)|a timeout\(0x[0-9a-f]+\))/.exec(p.observed);
    return `this host cannot ${CANNOT[f]}: ${step} ${fault ? `raised ${fault[1]}` : `gave ${p.observed}`}`;
  }

  /** Why the harness must not run cases here at all, or null. */
  unusable(): string | null {
    if (this.has('cpl3-io')) return null;
    return `the native harness would run with access to I/O ports (IOPL or an I/O bitmap inherited from its parent: ${this.byName.get('cpl3-io')?.observed}); the corpus's port I/O cases would reach real hardware. Run the tests from a process without iopl/ioperm`;
  }

  /** One line per facility, for the test output. */
  describe(): string[] {
    return this.probes.map((p) => `${p.name.padEnd(12)} ${p.ok ? 'ok     ' : 'missing'}  ${p.ran}: ${p.observed}`);
  }

  /**
   * The missing facility a case needs, judged from the case and its native result, or null
   * when the native result is a valid reference for it.
   */
  missingFor(c: SnippetCase, native: SnippetResult): Facility | null {
    const mode = c.mode ?? 64;
    if (mode === 32 && !this.has('compat32')) return 'compat32';
    if (mode === 16 && !this.has('mode16')) return 'mode16';
    if (native.vector === VECTOR_UNSUPPORTED) {
      // The harness refuses a mode only when its own probe failed: the same probe as ours.
      throw new NativeHarnessError(`${c.name}: the harness reports ${mode}-bit mode unsupported, but its probe said it works`);
    }
    // A segment-load or far-transfer fault names its selector: index, TI (bit 2); EXT/IDT clear.
    const v = native.vector;
    if ((v === VECTOR_GP || v === VECTOR_NP || v === VECTOR_SS || v === VECTOR_TS) && (native.errorCode & 3) === 0 && native.errorCode !== 0) {
      if (native.errorCode & 4) return this.has('ldt') ? null : 'ldt';
      if ((native.errorCode & 0xfff8) === 0x20) {
        if (!this.has('compat32')) return 'compat32';
        if (!this.has('iret-compat') && opcodeAt(c, native.rip) === 0xcf) return 'iret-compat';
      }
    }
    // INT n faults at the INT (#GP); INT3/INTO/INT1 trap after it.
    if (!this.has('int-gates')) {
      const at = opcodeAt(c, native.rip);
      const before1 = opcodeAt(c, native.rip - 1n);
      const before2 = opcodeAt(c, native.rip - 2n);
      if (at === 0xcd || at === 0xcc || at === 0xce || at === 0xf1 || before1 === 0xcc || before1 === 0xce || before1 === 0xf1 || before2 === 0xcd) return 'int-gates';
    }
    return null;
  }
}

/** The opcode byte at a linear address in the case's code, legacy and REX prefixes skipped (-1 outside it). */
function opcodeAt(c: SnippetCase, rip: bigint): number {
  let i = Number(rip - BigInt(SNIPPET_CODE_BASE));
  if (!(i >= 0 && i < c.code.length)) return -1;
  const rex = (c.mode ?? 64) === 64;
  while (i < c.code.length) {
    const b = c.code[i]!;
    if ([0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65].includes(b) || (rex && (b & 0xf0) === 0x40)) i++;
    else return b;
  }
  return -1;
}

const cache = new Map<string, HostFacilities>();

/** Runs `snippet-harness --probe` (once per process and binary) and parses its report. */
export function probeHostFacilities(bin: string): HostFacilities {
  const known = cache.get(bin);
  if (known) return known;
  let out: string;
  try {
    out = execFileSync(bin, ['--probe'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer | string }).stderr?.toString() ?? '';
    throw new NativeHarnessError(`The native snippet harness cannot start on this host (${bin} --probe): ${stderr.trim() || String(e)}`, e);
  }
  const probes: FacilityProbe[] = [];
  for (const line of out.split('\n')) {
    if (line.trim() === '') continue;
    const [name, state, ran, observed] = line.split('\t');
    if (!FACILITIES.includes(name as Facility) || (state !== 'ok' && state !== 'missing') || ran === undefined || observed === undefined) {
      throw new NativeHarnessError(`${bin} --probe printed an unexpected line: ${JSON.stringify(line)}`);
    }
    probes.push({ name: name as Facility, ok: state === 'ok', ran, observed });
  }
  const host = new HostFacilities(probes);
  cache.set(bin, host);
  return host;
}

/** Counts the cases not compared, by missing facility, and words them for the test output. */
export class NotCompared {
  private readonly counts = new Map<Facility, number>();

  constructor(private readonly host: HostFacilities) {}

  add(f: Facility): void {
    this.counts.set(f, (this.counts.get(f) ?? 0) + 1);
  }

  get total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  /** "62 cases not compared: this host cannot load LDT selectors natively: ...", one per facility. */
  lines(): string[] {
    return [...this.counts.entries()].map(([f, n]) => `${n} ${n === 1 ? 'case' : 'cases'} not compared: ${this.host.reason(f)}`);
  }
}
