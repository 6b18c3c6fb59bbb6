/**
 * System instructions: port I/O, descriptor tables (groups 6 and 7), LAR/LSL, control and
 * debug registers, MSRs, TSC, CPUID, SYSCALL/SYSRET, SYSENTER/SYSEXIT, SWAPGS, cache and TLB
 * maintenance, hint NOPs, UD2, group 15's fences and CLFLUSH. The x87 escapes are x87.ts's; the
 * FXSAVE/XSAVE/MXCSR state rows are sse.ts's.
 */
import {
  clts, cpuidOp, grp15, grp6, grp7, inOp, invd, invpcidOp, larLsl, movCr, movDr, nop, outOp, rdmsr, rdpmc, rdtsc, swapgs, syscall, sysenter, sysexit, sysret, ud2, wrmsr,
} from '../ops-system.js';
import { M32, M64, invalid, row, type Row } from './row.js';
import { Bit } from '../flags.js';

function ioRows(out: Row[]): void {
  const io = { ends: true };
  out.push(
    row('IN', 'E4', 'AL,Ib', inOp, io),
    row('IN', 'E5', 'eAX,Ib', inOp, { ...io, osz: 'z64' }),
    row('IN', 'EC', 'AL,DX', inOp, { ...io, imm: -1 }),
    row('IN', 'ED', 'eAX,DX', inOp, { ...io, osz: 'z64', imm: -1 }),
    row('OUT', 'E6', 'Ib,AL', outOp, io),
    row('OUT', 'E7', 'Ib,eAX', outOp, { ...io, osz: 'z64' }),
    row('OUT', 'EE', 'DX,AL', outOp, { ...io, imm: -1 }),
    row('OUT', 'EF', 'DX,eAX', outOp, { ...io, osz: 'z64', imm: -1 }),
  );
}

function descriptorRows(out: Row[]): void {
  const e = { ends: true };
  out.push(
    row('SLDT', '0F 00 /0', 'Ew', grp6, { ...e, sub: 0, mw: true }),
    row('STR', '0F 00 /1', 'Ew', grp6, { ...e, sub: 1, mw: true }),
    row('LLDT', '0F 00 /2', 'Ew', grp6, { ...e, sub: 2, priv: true }),
    row('LTR', '0F 00 /3', 'Ew', grp6, { ...e, sub: 3, priv: true }),
    row('VERR', '0F 00 /4', 'Ew', grp6, { ...e, sub: 4, fw: Bit.ZF }),
    row('VERW', '0F 00 /5', 'Ew', grp6, { ...e, sub: 5, fw: Bit.ZF }),
    invalid('0F 00 /6'),
    invalid('0F 00 /7'),
    row('SGDT', '0F 01 /0 mem', 'Ms', grp7, { ...e, sub: 0, mw: true }),
    row('SIDT', '0F 01 /1 mem', 'Ms', grp7, { ...e, sub: 1, mw: true }),
    row('LGDT', '0F 01 /2 mem', 'Ms', grp7, { ...e, sub: 2, priv: true }),
    row('LIDT', '0F 01 /3 mem', 'Ms', grp7, { ...e, sub: 3, priv: true }),
    row('SMSW', '0F 01 /4', 'Ew', grp7, { ...e, sub: 4, mw: true }),
    invalid('0F 01 /5 mem'),
    row('LMSW', '0F 01 /6', 'Ew', grp7, { ...e, sub: 6, priv: true }),
    row('INVLPG', '0F 01 /7 mem', 'M', grp7, { ...e, sub: 7, priv: true }),
    row('SWAPGS', '0F 01 /7 mod=3 rm=0', '', swapgs, { ...e, priv: true }),
    row('RDTSCP', '0F 01 /7 mod=3 rm=1', '', rdtsc, { ...e, sub: 1, feature: 'rdtscp' }),
    row('MONITOR/MWAIT', '0F 01 /1 mod=3 rm=0', '', null),
    row('MONITOR/MWAIT', '0F 01 /1 mod=3 rm=1', '', null),
    row('LAR', '0F 02 /r', 'Gv,Ew', larLsl, { sub: 0, fw: Bit.ZF }),
    row('LSL', '0F 03 /r', 'Gv,Ew', larLsl, { sub: 1, fw: Bit.ZF }),
  );
}

function controlRows(out: Row[]): void {
  const cr = { forceReg: true, priv: true, ends: true };
  out.push(
    row('MOV', '0F 20 /r', 'Rd,Cd', movCr, { ...cr, sub: 0 }),
    row('MOV', '0F 22 /r', 'Cd,Rd', movCr, { ...cr, sub: 1 }),
    row('MOV', '0F 21 /r', 'Rd,Dd', movDr, { ...cr, sub: 0 }),
    row('MOV', '0F 23 /r', 'Dd,Rd', movDr, { ...cr, sub: 1 }),
    row('CLTS', '0F 06', '', clts, { priv: true, ends: true }),
    row('INVD', '0F 08', '', invd, { priv: true }),
    row('INVPCID', '66 0F 38 82 /r mem', 'Gy,Mdq', invpcidOp, { priv: true, ends: true, feature: 'invpcid' }),
    invalid('66 0F 38 82 /r mod=3'),
    row('WBINVD', '0F 09', '', invd, { priv: true }),
    row('WRMSR', '0F 30', '', wrmsr, { priv: true, ends: true, feature: 'msr', pmuSync: true }),
    row('RDTSC', '0F 31', '', rdtsc, { sub: 0, ends: true, feature: 'tsc' }),
    row('RDMSR', '0F 32', '', rdmsr, { priv: true, feature: 'msr', pmuSync: true }),
    row('RDPMC', '0F 33', '', rdpmc, { pmuSync: true }),
    row('CPUID', '0F A2', '', cpuidOp),
    row('SYSCALL', '0F 05', '', syscall, { modes: M32 | M64, branch: 'sys', feature: 'syscall' }),
    row('SYSRET', '0F 07', '', sysret, { priv: true, branch: 'sys', feature: 'syscall' }),
    row('SYSENTER', '0F 34', '', sysenter, { branch: 'sys', feature: 'sep' }),
    row('SYSEXIT', '0F 35', '', sysexit, { osz: 'y', priv: true, branch: 'sys', feature: 'sep' }),
    row('UD2', '0F 0B', '', ud2, { ends: true }),
    row('NOP', '0F 0D /r', 'Ev', nop),
  );
  for (let op = 0x18; op <= 0x1f; op++) out.push(row('NOP', `0F ${op.toString(16).toUpperCase()} /r`, 'Ev', nop));
}

function stateRows(out: Row[]): void {
  out.push(
    row('LFENCE', '0F AE /5 mod=3', '', grp15, { sub: 5, feature: 'sse2' }),
    row('MFENCE', '0F AE /6 mod=3', '', grp15, { sub: 6, feature: 'sse2' }),
    row('SFENCE', '0F AE /7 mod=3', '', grp15, { sub: 7, feature: 'sse' }),
    row('CLFLUSH', '0F AE /7 mem', 'Mb', grp15, { sub: 7, osz: 'v', feature: 'clfsh' }),
  );
}

/** The system rows. */
export function systemTable(): Row[] {
  const out: Row[] = [];
  ioRows(out);
  descriptorRows(out);
  controlRows(out);
  stateRows(out);
  return out;
}
