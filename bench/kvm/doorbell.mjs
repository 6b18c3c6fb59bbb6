// What a virtio doorbell costs the vCPU that rings it, with KVM_IOEVENTFD (the write is handled in the kernel:
// an eventfd signal, no exit) and without (an MMIO exit to tsvmm's run loop, which rings the device and
// re-enters). The guest writes the 16-bit doorbell N times in a loop; the time per write includes the loop's
// three instructions (on kvm_pvm those run in KVM's ring-0 emulator). It is timed from the guest's first
// `out 0x80` to its `out 0xf4`, so starting the vCPU's thread does not count. Used by bench/io.mjs; run alone with
// `node bench/kvm/doorbell.mjs [--writes N] [--runs R]` after `npm run build`.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const LOAD = 0x10_0000;
const DOORBELL = 0xd000_0000;
const DEBUG_EXIT_PORT = 0xf4;

/** Per-write µs for each mode, `runs` interleaved runs of `writes` doorbell writes; undefined without /dev/kvm. */
export async function doorbellCost(writes = 20_000, runs = 5) {
  if (!existsSync('/dev/kvm')) return undefined;
  const { createKvmVm } = await import(join(root, 'dist/src/cpu/kvm/kvm-vm.js'));
  const { REG, segmentBatch } = await import(join(root, 'dist/src/cpu/registers.js'));
  const n = writes;
  // out 0x80, al; mov ecx, n; 1: mov [DOORBELL], ax; dec ecx; jnz 1b; out 0xf4, al; cli; hlt
  const guest = Uint8Array.from([0xe6, 0x80, 0xb9, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24, 0x66, 0xa3, 0, 0, 0, 0xd0, 0x49, 0x75, 0xf7, 0xe6, DEBUG_EXIT_PORT, 0xfa, 0xf4]);
  const once = async (mode) => {
    const vm = createKvmVm({ memBytes: 16 << 20, cpus: 1, eventChannels: mode });
    try {
      let rings = 0;
      const h = vm.events.ioEvent({ space: 'mmio', address: DOORBELL, size: 2 }, { signal: () => rings++ });
      let t0 = 0n;
      let t1 = 0n;
      vm.pio.register(0x80, 1, { read: (_o, d) => d.fill(0xff), write: () => (t0 = process.hrtime.bigint()) }, 'start');
      vm.pio.register(DEBUG_EXIT_PORT, 1, { read: (_o, d) => d.fill(0xff), write: (_o, d) => ((t1 = process.hrtime.bigint()), vm.requestStop({ kind: 'debug-exit', value: d[0] })) }, 'debug-exit');
      vm.memory.write(LOAD, guest);
      const code = { selector: 0x10, base: 0n, limit: 0xffff_ffff, attrs: 0xc09b };
      const data = { selector: 0x18, base: 0n, limit: 0xffff_ffff, attrs: 0xc093 };
      vm.vcpus[0].setRegisters([...segmentBatch('cs', code), ...['ds', 'es', 'ss', 'fs', 'gs'].flatMap((s) => segmentBatch(s, data)), [REG.cr0, 0x11n], [REG.rip, BigInt(LOAD)], [REG.rflags, 2n], [REG.rsp, 0x8000n]]);
      const stop = await vm.run();
      const us = Number(t1 - t0) / 1e3 / n;
      if (stop.kind !== 'debug-exit') throw new Error(`doorbell run ended with ${JSON.stringify(stop)}`);
      if (mode === 'in-process' && rings !== n) throw new Error(`in-process: ${rings} rings for ${n} writes`);
      if (mode === 'kernel' && !h.inKernel) throw new Error('KVM_IOEVENTFD was not used');
      return us;
    } finally {
      vm.destroy();
    }
  };
  const out = { kernel: [], 'in-process': [] };
  for (let i = 0; i < runs; i++) for (const mode of ['kernel', 'in-process']) out[mode].push(await once(mode));
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const opt = (name, def) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : def);
  const r = await doorbellCost(opt('--writes', 20_000), opt('--runs', 5));
  if (r === undefined) console.log('doorbell: skipped (no /dev/kvm on this host)');
  else for (const [mode, xs] of Object.entries(r)) console.log(`${mode}: ${xs.map((x) => x.toFixed(2)).join(', ')} us per write`);
}
