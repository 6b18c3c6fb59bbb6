// The browser side of bench/browser.mjs: runs one guest to a marker line on tsvmm (in a Worker, as the
// page does) or on v86 (the npm package's build, with SeaBIOS), stamping each COM1 line as it arrives.
import { BrowserVm } from '../src/web/index.js';

interface Mark {
  readonly text: string;
  readonly ms: number;
}
export interface BenchResult {
  readonly marks: Mark[];
  /** tsvmm only: instructions retired and the run loop's own figures at the end. */
  readonly instructions?: number;
  readonly runMs?: number;
  readonly yields?: number;
  readonly yieldMs?: number;
  readonly scheduler?: string;
  readonly error?: string;
}

interface BenchRequest {
  readonly engine: 'tsvmm' | 'v86';
  readonly kernelUrl: string;
  readonly cmdline: string;
  /** The run ends at the `untilCount`-th line containing this. */
  readonly until: string;
  readonly untilCount?: number;
  readonly jit?: boolean;
  readonly scheduler?: 'auto' | 'message-channel' | 'post-task' | 'timeout';
  readonly timeoutMs?: number;
}

function lineStamper(until: string, count: number, done: () => void): { feed(b: Uint8Array | number): void; marks: Mark[] } {
  const marks: Mark[] = [];
  let line = '';
  let seen = 0;
  const feedByte = (c: number): void => {
    if (c !== 10) {
      if (c !== 13) line += String.fromCharCode(c);
      return;
    }
    marks.push({ text: line, ms: performance.now() });
    if (line.includes(until) && ++seen === count) done();
    line = '';
  };
  return {
    marks,
    feed(b) {
      if (typeof b === 'number') feedByte(b);
      else for (let i = 0; i < b.length; i++) feedByte(b[i]!);
    },
  };
}

async function bytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function runTsvmm(q: BenchRequest): Promise<BenchResult> {
  const kernel = await bytes(q.kernelUrl);
  return new Promise((resolve) => {
    let finished = false;
    const vm: BrowserVm = new BrowserVm(new Worker('worker.js', { type: 'module' }), {
      onSerial: (b) => s.feed(b),
      onStats: (st) => {
        if (!finished) return;
        vm.dispose();
        resolve({ marks: s.marks, instructions: st.instructions, runMs: st.runMs, yields: st.host.yields, yieldMs: st.host.yieldMs, scheduler: st.host.scheduler });
      },
      onError: (m) => resolve({ marks: s.marks, error: m }),
    });
    const s = lineStamper(q.until, q.untilCount ?? 1, () => {
      finished = true;
      vm.pause();
    });
    vm.boot({ kernel: { name: 'bench.elf', data: kernel }, cmdline: q.cmdline, memBytes: 128 << 20, statsEveryMs: 0, ...(q.scheduler ? { scheduler: q.scheduler } : {}) });
  });
}

interface V86Emulator {
  add_listener(ev: string, f: (b: number) => void): void;
  destroy(): void | Promise<void>;
}

async function runV86(q: BenchRequest): Promise<BenchResult> {
  const url = '/v86/libv86.mjs';
  const mod = (await import(/* external */ url)) as { V86: new (o: object) => V86Emulator };
  return new Promise((resolve) => {
    let emu: V86Emulator | undefined;
    const s = lineStamper(q.until, q.untilCount ?? 1, () => {
      void emu?.destroy();
      resolve({ marks: s.marks });
    });
    emu = new mod.V86({
      wasm_path: '/v86/v86.wasm',
      bios: { url: '/seabios/bios.bin' },
      vga_bios: { url: '/seabios/vgabios.bin' },
      multiboot: { url: q.kernelUrl },
      cmdline: q.cmdline,
      memory_size: 128 << 20,
      autostart: true,
      disable_jit: q.jit === false,
    });
    emu.add_listener('serial0-output-byte', (b) => s.feed(b));
  });
}

(globalThis as Record<string, unknown>).runBench = async (q: BenchRequest): Promise<BenchResult> => {
  const t = new Promise<BenchResult>((resolve) => setTimeout(() => resolve({ marks: [], error: `no "${q.until}" within ${q.timeoutMs ?? 600000} ms` }), q.timeoutMs ?? 600_000));
  try {
    return await Promise.race([q.engine === 'v86' ? runV86(q) : runTsvmm(q), t]);
  } catch (e) {
    return { marks: [], error: (e as Error).message };
  }
};
