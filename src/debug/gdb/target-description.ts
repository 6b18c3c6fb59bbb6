/**
 * The x86-64 target description the stub gives gdb (qXfer:features:read:target.xml): the
 * register numbering of `g`/`p`/`P`, in gdb's feature names (i386.core, i386.sse,
 * i386.segments) plus a system feature with the control registers, EFER and KERNEL_GS_BASE.
 */

export interface GdbRegister {
  readonly name: string;
  readonly bits: number;
  readonly type: string;
  readonly feature: 'core' | 'sse' | 'segments' | 'system';
  readonly group?: string;
}

const r = (name: string, bits: number, type: string, feature: GdbRegister['feature'], group?: string): GdbRegister => ({ name, bits, type, feature, ...(group !== undefined ? { group } : {}) });

const GPRS = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];

/** Every register in protocol order (the index is gdb's register number). */
export const GDB_REGISTERS: readonly GdbRegister[] = [
  ...GPRS.map((n) => r(n, 64, n === 'rbp' || n === 'rsp' ? 'data_ptr' : 'int64', 'core')),
  r('rip', 64, 'code_ptr', 'core'),
  r('eflags', 32, 'x86_eflags', 'core'),
  ...['cs', 'ss', 'ds', 'es', 'fs', 'gs'].map((n) => r(n, 32, 'int32', 'core')),
  ...[0, 1, 2, 3, 4, 5, 6, 7].map((i) => r(`st${i}`, 80, 'i387_ext', 'core')),
  ...['fctrl', 'fstat', 'ftag', 'fiseg', 'fioff', 'foseg', 'fooff', 'fop'].map((n) => r(n, 32, 'int', 'core', 'float')),
  ...Array.from({ length: 16 }, (_, i) => r(`xmm${i}`, 128, 'vec128', 'sse')),
  r('mxcsr', 32, 'int', 'sse', 'vector'),
  r('fs_base', 64, 'int', 'segments'),
  r('gs_base', 64, 'int', 'segments'),
  ...['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer', 'k_gs_base'].map((n) => r(n, 64, 'int', 'system', 'system')),
];

/** Index of a register by name (for the target implementations). */
export const REG_INDEX: ReadonlyMap<string, number> = new Map(GDB_REGISTERS.map((g, i) => [g.name, i]));

const FEATURE_NAMES: Record<GdbRegister['feature'], string> = {
  core: 'org.gnu.gdb.i386.core',
  sse: 'org.gnu.gdb.i386.sse',
  segments: 'org.gnu.gdb.i386.segments',
  system: 'org.tsvmm.gdb.x86.system',
};

const EFLAGS_BITS: [number, string][] = [[0, 'CF'], [2, 'PF'], [4, 'AF'], [6, 'ZF'], [7, 'SF'], [8, 'TF'], [9, 'IF'], [10, 'DF'], [11, 'OF'], [14, 'NT'], [16, 'RF'], [17, 'VM'], [18, 'AC'], [19, 'VIF'], [20, 'VIP'], [21, 'ID']];

function featureXml(feature: GdbRegister['feature']): string {
  const lines = [`<feature name="${FEATURE_NAMES[feature]}">`];
  if (feature === 'core') {
    lines.push('<flags id="x86_eflags" size="4">', ...EFLAGS_BITS.map(([b, n]) => `<field name="${n}" start="${b}" end="${b}"/>`), '</flags>');
  }
  if (feature === 'sse') {
    lines.push(
      '<vector id="v8bf16" type="bfloat16" count="8"/>',
      '<vector id="v4f" type="ieee_single" count="4"/>',
      '<vector id="v2d" type="ieee_double" count="2"/>',
      '<vector id="v16i8" type="int8" count="16"/>',
      '<vector id="v8i16" type="int16" count="8"/>',
      '<vector id="v4i32" type="int32" count="4"/>',
      '<vector id="v2i64" type="int64" count="2"/>',
      '<union id="vec128">',
      '<field name="v8_bfloat16" type="v8bf16"/><field name="v4_float" type="v4f"/><field name="v2_double" type="v2d"/>',
      '<field name="v16_int8" type="v16i8"/><field name="v8_int16" type="v8i16"/><field name="v4_int32" type="v4i32"/>',
      '<field name="v2_int64" type="v2i64"/><field name="uint128" type="uint128"/>',
      '</union>',
    );
  }
  GDB_REGISTERS.forEach((g, i) => {
    if (g.feature !== feature) return;
    lines.push(`<reg name="${g.name}" bitsize="${g.bits}" type="${g.type}" regnum="${i}"${g.group !== undefined ? ` group="${g.group}"` : ''}/>`);
  });
  lines.push('</feature>');
  return lines.join('\n');
}

/** The whole target.xml document. */
export function targetXml(): string {
  return [
    '<?xml version="1.0"?>',
    '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
    '<target version="1.0">',
    '<architecture>i386:x86-64</architecture>',
    featureXml('core'),
    featureXml('sse'),
    featureXml('segments'),
    featureXml('system'),
    '</target>',
  ].join('\n');
}
