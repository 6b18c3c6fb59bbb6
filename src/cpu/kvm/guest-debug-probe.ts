/**
 * What KVM_SET_GUEST_DEBUG really does on this host, found by running a tiny 64-bit ring-0 guest in a VM of
 * its own: a capability KVM reports is not proof (kvm_pvm reports KVM_CAP_SET_GUEST_DEBUG, but emulates ring 0
 * in software, where an INT3 stops the guest and data breakpoints never fire). Each facility is one short run
 * that ends in an OUT, so a facility that does nothing shows as the OUT exit, never as a hang.
 */
import { KVM_EXIT, KVM_GUESTDBG, KVM_RUN as KVM_RUN_IOCTL, KVM_SET_GUEST_DEBUG } from '../../sys/kvm-abi.js';
import { KVM_RUN, decodeDebugExit, encodeGuestDebug, type KvmDebugExit } from '../../sys/kvm-structs.js';
import { ioctlIntRaw, ioctlPtrRaw, lastErrno, sysError } from '../../sys/libc.js';
import { REG, segmentBatch } from '../registers.js';
import { createKvmVm, type KvmVm } from './kvm-vm.js';

export interface GuestDebugSupport {
  /** KVM_GUESTDBG_SINGLESTEP stops after one instruction. */
  readonly singleStep: boolean;
  /** A DR0-DR3 execute breakpoint in kvm_guest_debug.arch stops at its instruction. */
  readonly hwBreak: boolean;
  /** A DR0-DR3 write watchpoint stops after the write. */
  readonly hwWatch: boolean;
  /** An INT3 with KVM_GUESTDBG_USE_SW_BP comes back as KVM_EXIT_DEBUG (exception 3) at the INT3. */
  readonly swBreak: boolean;
  /** KVM_GUESTDBG_BLOCKIRQ is supported (KVM_CAP_SET_GUEST_DEBUG2): a step does not land in an interrupt handler. */
  readonly blockIrq: boolean;
  /** What each facility that failed did instead, for messages. */
  readonly notes: readonly string[];
}

export type GuestDebugProbe = { readonly ok: true; readonly support: GuestDebugSupport } | { readonly ok: false; readonly reason: string };

const ENTRY = 0x10_0000;
const SW_ENTRY = ENTRY + 0x100;
const DATA = 0x20_0000;
// nop; nop; nop (the breakpoint); mov [DATA], eax; out 0xe9, al
const CODE = [0x90, 0x90, 0x90, 0x89, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0xe6, 0xe9];
const WRITE_AT = ENTRY + 3;
const AFTER_WRITE = ENTRY + 10;
// nop; int3; out 0xe9, al
const SW_CODE = [0x90, 0xcc, 0xe6, 0xe9];

type RunResult = { kind: 'debug'; exit: KvmDebugExit; rip: bigint } | { kind: 'other'; what: string };

function prepare(vm: KvmVm): void {
  // Identity map of the first 1 GiB with 2 MiB pages: PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000.
  vm.memory.writeU64(0x1000, 0x2003n);
  vm.memory.writeU64(0x2000, 0x3003n);
  for (let i = 0; i < 512; i++) vm.memory.writeU64(0x3000 + i * 8, (BigInt(i) << 21n) | 0x83n);
  vm.memory.write(ENTRY, Uint8Array.from(CODE));
  vm.memory.write(SW_ENTRY, Uint8Array.from(SW_CODE));
}

function runOnce(vm: KvmVm, rip: number, control: number, debugreg: readonly bigint[] = []): RunResult {
  const v = vm.vcpus[0]!;
  const data = { selector: 0x18, base: 0n, limit: 0xffff_ffff, attrs: 0xc093 };
  v.setRegisters([
    ...segmentBatch('cs', { selector: 0x08, base: 0n, limit: 0xffff_ffff, attrs: 0xa09b }),
    ...(['ds', 'es', 'ss', 'fs', 'gs'] as const).flatMap((s) => segmentBatch(s, data)),
    [REG.cr3, 0x1000n],
    [REG.cr4, 0x20n],
    [REG.efer, 0x500n],
    [REG.cr0, 0x8000_0011n],
    [REG.rip, BigInt(rip)],
    [REG.rflags, 2n],
    [REG.rax, 0x5a5an],
  ]);
  if (ioctlPtrRaw(v.fd, KVM_SET_GUEST_DEBUG, encodeGuestDebug(control, debugreg)) < 0) return { kind: 'other', what: sysError('KVM_SET_GUEST_DEBUG failed', lastErrno()).message };
  const rb = v.run.bytes;
  if (ioctlIntRaw(v.fd, KVM_RUN_IOCTL, 0) < 0) return { kind: 'other', what: sysError('KVM_RUN failed', lastErrno()).message };
  const reason = new DataView(rb.buffer, rb.byteOffset).getUint32(KVM_RUN.EXIT_REASON, true);
  const exitRip = v.rip();
  if (reason === KVM_EXIT.DEBUG) return { kind: 'debug', exit: decodeDebugExit(rb), rip: exitRip };
  const names: Record<number, string> = { [KVM_EXIT.IO]: 'ran on to the OUT', [KVM_EXIT.INTERNAL_ERROR]: 'KVM could not run the instruction (internal error)', [KVM_EXIT.SHUTDOWN]: 'the guest shut down' };
  return { kind: 'other', what: `${names[reason] ?? `exit ${reason}`} at rip 0x${exitRip.toString(16)}` };
}

const G = KVM_GUESTDBG;
const DR6_BS = 1n << 14n;

/** Runs the probe in a VM of its own (a few milliseconds). Never throws: problems become the refusal reason. */
export function probeGuestDebug(): GuestDebugProbe {
  let vm: KvmVm;
  try {
    vm = createKvmVm({ memBytes: 4 << 20, cpus: 1 });
  } catch (e) {
    return { ok: false, reason: `cannot create a probe VM: ${(e as Error).message}` };
  }
  try {
    if (vm.checkExtension('SET_GUEST_DEBUG') <= 0) return { ok: false, reason: "this host's KVM does not allow guest debugging (KVM_CAP_SET_GUEST_DEBUG is 0)" };
    const bits = vm.checkExtension('SET_GUEST_DEBUG2');
    prepare(vm);
    const notes: string[] = [];
    const step = runOnce(vm, ENTRY, G.ENABLE | G.SINGLESTEP);
    const singleStep = step.kind === 'debug' && step.exit.exception === 1 && (step.exit.dr6 & DR6_BS) !== 0n && step.rip === BigInt(ENTRY + 1);
    if (!singleStep) notes.push(`single-step: ${describe(step)}`);
    // DR7: G0 (bit 1), RW0 = LEN0 = 0 (execute).
    const hw = runOnce(vm, ENTRY, G.ENABLE | G.USE_HW_BP, [BigInt(ENTRY + 2), 0n, 0n, 0n, 0n, 0n, 0n, 0x2n]);
    const hwBreak = hw.kind === 'debug' && hw.exit.exception === 1 && (hw.exit.dr6 & 1n) !== 0n && hw.rip === BigInt(ENTRY + 2);
    if (!hwBreak) notes.push(`hardware breakpoint: ${describe(hw)}`);
    // DR7: G1 (bit 3), RW1 = 01 (write), LEN1 = 11 (4 bytes).
    const watch = runOnce(vm, WRITE_AT, G.ENABLE | G.USE_HW_BP, [0n, BigInt(DATA), 0n, 0n, 0n, 0n, 0n, 0x8n | (0x1n << 20n) | (0x3n << 22n)]);
    const hwWatch = watch.kind === 'debug' && watch.exit.exception === 1 && (watch.exit.dr6 & 2n) !== 0n && watch.rip === BigInt(AFTER_WRITE);
    if (!hwWatch) notes.push(`hardware watchpoint: ${describe(watch)}`);
    const sw = runOnce(vm, SW_ENTRY, G.ENABLE | G.USE_SW_BP);
    const swBreak = sw.kind === 'debug' && sw.exit.exception === 3 && sw.rip === BigInt(SW_ENTRY + 1);
    if (!swBreak) notes.push(`software breakpoint (INT3): ${describe(sw)}`);
    if (!singleStep || !hwBreak) {
      return { ok: false, reason: `this host's KVM reports KVM_CAP_SET_GUEST_DEBUG, but a probe guest shows it does not work here (${notes.join('; ')})` };
    }
    return { ok: true, support: { singleStep, hwBreak, hwWatch, swBreak, blockIrq: bits > 0 && (bits & G.BLOCKIRQ) !== 0, notes } };
  } catch (e) {
    return { ok: false, reason: `the guest-debug probe failed: ${(e as Error).message}` };
  } finally {
    vm.destroy();
  }
}

function describe(r: RunResult): string {
  if (r.kind === 'other') return r.what;
  return `a debug exit with exception ${r.exit.exception}, DR6 0x${r.exit.dr6.toString(16)}, at rip 0x${r.rip.toString(16)}`;
}

let cached: GuestDebugProbe | undefined;
/** The probe's answer, found once per process. */
export function guestDebugSupport(): GuestDebugProbe {
  cached ??= probeGuestDebug();
  return cached;
}
