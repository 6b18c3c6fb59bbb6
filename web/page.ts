// The tsvmm page: an xterm.js terminal on COM1 of an emulated PC that runs in a Worker, boot choices,
// start/pause/reset, live figures and a progress bar while images load. Built by scripts/web.mjs.
import { Terminal } from '@xterm/xterm';
import { BrowserVm, type MachineStats } from '../src/web/index.js';
import { LINUX_GUEST_CMDLINE } from '../src/boot/linux-cmdline.js';

interface Choice {
  readonly kernel: string;
  readonly initrd?: string;
  readonly cmdline: string;
  readonly mem: number;
  readonly missing: string;
}
const LINUX_CMDLINE = LINUX_GUEST_CMDLINE;
const CHOICES: Record<string, Choice> = {
  demo: { kernel: 'images/demo.elf', cmdline: '', mem: 64, missing: 'build the guests: node scripts/build-guests.mjs' },
  echo: { kernel: 'images/echo.elf', cmdline: 'irq', mem: 64, missing: 'build the guests: node scripts/build-guests.mjs' },
  linux: { kernel: 'images/linux/vmlinuz', initrd: 'images/linux/initramfs.cpio', cmdline: LINUX_CMDLINE, mem: 256, missing: 'fetch it: node scripts/fetch-linux-guest.mjs' },
  realcode: { kernel: 'images/realcode.elf', cmdline: 'quick scale=1', mem: 128, missing: 'build the guests: node scripts/build-guests.mjs' },
};

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const guestSel = $<HTMLSelectElement>('guest');
const memSel = $<HTMLSelectElement>('mem');
const cmdlineIn = $<HTMLInputElement>('cmdline');
const startBtn = $<HTMLButtonElement>('start');
const pauseBtn = $<HTMLButtonElement>('pause');
const resetBtn = $<HTMLButtonElement>('reset');
const statusEl = $('status');

const term = new Terminal({ rows: 30, cols: 100, scrollback: 5000, fontSize: 13, convertEol: false });
term.open($('terminal'));

let vm: BrowserVm | undefined;
let dropped: { kernel: File; initrd?: File } | undefined;
let serialText = '';
let lastStats: MachineStats | undefined;
let prev: { instructions: number; runMs: number } | undefined;
let stopMessage: string | undefined;
const decoder = new TextDecoder();

function say(m: string): void {
  statusEl.textContent = m;
}

function applyChoice(): void {
  const c = CHOICES[guestSel.value];
  if (c) {
    cmdlineIn.value = c.cmdline;
    memSel.value = String(c.mem);
  }
}
guestSel.addEventListener('change', applyChoice);
applyChoice();

/** Fetches the images, with one progress bar over all of them. */
async function fetchImages(urls: string[], missing: string): Promise<Uint8Array[]> {
  const bar = $('progress');
  const fill = $('progress-bar');
  const text = $('progress-text');
  bar.hidden = false;
  try {
    const responses = await Promise.all(urls.map((u) => fetch(u)));
    responses.forEach((r, i) => {
      if (!r.ok) throw new Error(`${urls[i]}: ${r.status} ${r.statusText} (${missing})`);
    });
    const total = responses.reduce((n, r) => n + Number(r.headers.get('content-length') ?? 0), 0);
    let got = 0;
    const show = (): void => {
      fill.style.width = total > 0 ? `${Math.min(100, (100 * got) / total).toFixed(1)}%` : '100%';
      text.textContent = `loading ${urls.map((u) => u.split('/').pop()).join(' + ')}: ${(got / 1048576).toFixed(1)} of ${(total / 1048576).toFixed(1)} MiB`;
    };
    return await Promise.all(
      responses.map(async (r) => {
        const chunks: Uint8Array[] = [];
        const reader = r.body!.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          chunks.push(value);
          got += value.length;
          show();
        }
        const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
        let o = 0;
        for (const c of chunks) {
          out.set(c, o);
          o += c.length;
        }
        return out;
      }),
    );
  } finally {
    bar.hidden = true;
  }
}

function isKernel(b: Uint8Array): boolean {
  const elf = b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
  const bz = b.length > 0x206 && b[0x202] === 0x48 && b[0x203] === 0x64 && b[0x204] === 0x72 && b[0x205] === 0x53; // "HdrS"
  const mb = (() => {
    const v = new DataView(b.buffer, b.byteOffset, Math.min(b.length, 8192));
    for (let i = 0; i + 4 <= v.byteLength; i += 4) if (v.getUint32(i, true) === 0x1badb002) return true;
    return false;
  })();
  return elf || bz || mb;
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function showStats(s: MachineStats): void {
  lastStats = s;
  $('f-state').textContent = s.state;
  if (prev && s.runMs > prev.runMs) {
    const mips = (s.instructions - prev.instructions) / (s.runMs - prev.runMs) / 1000;
    $('f-mips').textContent = mips.toFixed(1);
  }
  prev = { instructions: s.instructions, runMs: s.runMs };
  $('f-insns').textContent = fmt(s.instructions);
  $('f-guest').textContent = `${(s.guestNs / 1e9).toFixed(3)} s`;
  $('f-console').textContent = s.console === 'shared-memory' ? 'SharedArrayBuffer ring' : 'postMessage';
  $('f-yield').textContent = `${s.host.scheduler}: ${s.host.yields ? ((s.host.yieldMs / s.host.yields) * 1000).toFixed(0) : '-'} µs each`;
  const exits = Object.entries(s.exits).filter(([k, v]) => k !== 'instructions' && v > 0);
  $('f-exits').innerHTML = exits.map(([k, v]) => `<tr><td>${k}</td><td>${fmt(v)}</td></tr>`).join('');
  const p = s.pmu[0];
  $('f-pmu').innerHTML = p
    ? [
        ...['INST_RETIRED', 'CPU_CLK_UNHALTED', 'REF_CYCLES'].map((n, i) => `<tr><td>fixed ${i} ${n}</td><td>${fmt(p.fixed[i] ?? 0)}</td></tr>`),
        ...p.gp.map((v, i) => `<tr><td>PMC${i} (evtsel ${(p.eventSelects[i] ?? 0).toString(16)})</td><td>${fmt(v)}</td></tr>`),
      ].join('')
    : '<tr><td>no PMU</td></tr>';
}

function setRunning(running: boolean): void {
  pauseBtn.disabled = !running;
  resetBtn.disabled = !running && vm === undefined;
}

async function start(): Promise<void> {
  startBtn.disabled = true;
  try {
    let kernel: Uint8Array;
    let initrd: Uint8Array | undefined;
    let kname: string;
    let iname = 'initrd';
    if (guestSel.value === 'files' && dropped) {
      kernel = new Uint8Array(await dropped.kernel.arrayBuffer());
      kname = dropped.kernel.name;
      if (dropped.initrd) {
        initrd = new Uint8Array(await dropped.initrd.arrayBuffer());
        iname = dropped.initrd.name;
      }
    } else {
      const c = CHOICES[guestSel.value]!;
      const imgs = await fetchImages(c.initrd ? [c.kernel, c.initrd] : [c.kernel], c.missing);
      kernel = imgs[0]!;
      initrd = imgs[1];
      kname = c.kernel.split('/').pop()!;
      if (c.initrd) iname = c.initrd.split('/').pop()!;
    }
    vm?.dispose();
    term.reset();
    serialText = '';
    prev = undefined;
    stopMessage = undefined;
    const worker = new Worker('worker.js', { type: 'module' });
    vm = new BrowserVm(worker, {
      onSerial: (b) => {
        term.write(b);
        serialText += decoder.decode(b, { stream: true });
      },
      onBooted: (d, ms) => say(`booted in ${ms.toFixed(0)} ms: ${d}`),
      onStats: showStats,
      onStop: (_stop, message) => {
        stopMessage = message;
        say(`stopped: ${message}`);
        pauseBtn.disabled = true;
      },
      onError: (m) => {
        say(`error: ${m}`);
        console.warn(`tsvmm: ${m}`);
      },
    });
    vm.boot({ kernel: { name: kname, data: kernel }, ...(initrd ? { initrd: { name: iname, data: initrd } } : {}), cmdline: cmdlineIn.value, memBytes: Number(memSel.value) << 20, statsEveryMs: 500 });
    pauseBtn.textContent = 'Pause';
    setRunning(true);
    term.focus();
  } catch (e) {
    say((e as Error).message);
  } finally {
    startBtn.disabled = false;
  }
}

startBtn.addEventListener('click', () => void start());
pauseBtn.addEventListener('click', () => {
  if (!vm) return;
  if (pauseBtn.textContent === 'Pause') {
    vm.pause();
    pauseBtn.textContent = 'Resume';
  } else {
    vm.resume();
    pauseBtn.textContent = 'Pause';
  }
});
resetBtn.addEventListener('click', () => {
  if (!vm) return;
  term.reset();
  serialText = '';
  prev = undefined;
  stopMessage = undefined;
  vm.reset();
  pauseBtn.textContent = 'Pause';
  setRunning(true);
});
const encoder = new TextEncoder();
term.onData((d) => vm?.sendInput(encoder.encode(d)));

async function takeFiles(files: FileList | File[]): Promise<void> {
  const list = [...files];
  if (list.length === 0 || list.length > 2) {
    say('drop one kernel, or a kernel and an initrd');
    return;
  }
  const heads = await Promise.all(list.map(async (f) => new Uint8Array(await f.slice(0, 8192).arrayBuffer())));
  const k = heads.findIndex(isKernel);
  const ki = k >= 0 ? k : 0;
  dropped = { kernel: list[ki]!, ...(list.length === 2 ? { initrd: list[1 - ki]! } : {}) };
  const opt = guestSel.querySelector<HTMLOptionElement>('option[value=files]')!;
  opt.disabled = false;
  opt.textContent = `Dropped: ${dropped.kernel.name}${dropped.initrd ? ` + ${dropped.initrd.name}` : ''}`;
  guestSel.value = 'files';
  cmdlineIn.value = dropped.initrd ? LINUX_CMDLINE : '';
  say('files ready: press Start');
}
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  if (e.dataTransfer) void takeFiles(e.dataTransfer.files);
});
$<HTMLInputElement>('files').addEventListener('change', (e) => void takeFiles((e.target as HTMLInputElement).files ?? []));

/** For tests and the curious: the terminal, COM1's text so far, the last figures. */
(globalThis as Record<string, unknown>).tsvmmPage = {
  term,
  get vm() {
    return vm;
  },
  get serialText() {
    return serialText;
  },
  get stats() {
    return lastStats;
  },
  get stopMessage() {
    return stopMessage;
  },
  /** The terminal's screen and scrollback as text, one line per row. */
  screenText(): string {
    const b = term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < b.length; i++) lines.push(b.getLine(i)?.translateToString(true) ?? '');
    return lines.join('\n');
  },
};
