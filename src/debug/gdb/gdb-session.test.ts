import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GdbSession, stopReply } from './gdb-session.js';
import { RspDecoder, encodePacket } from './rsp-codec.js';
import { GDB_REGISTERS, REG_INDEX, targetXml } from './target-description.js';
import type { GdbTarget, StopEvent, ZType } from './gdb-target.js';

/** A target over a flat 64 KiB "memory" and register bytes, recording what the session asked. */
class FakeTarget implements GdbTarget {
  readonly threadCount = 2;
  onStop: (e: StopEvent) => void = () => undefined;
  readonly mem = new Uint8Array(0x10000);
  readonly regs = GDB_REGISTERS.map((g) => new Uint8Array(g.bits / 8));
  readonly calls: string[] = [];
  describeThread(t: number): string {
    return `cpu ${t}`;
  }
  readRegister(_t: number, reg: number): Uint8Array | null {
    return this.regs[reg] ?? null;
  }
  writeRegister(t: number, reg: number, v: Uint8Array): boolean {
    this.calls.push(`P${t}:${reg}`);
    this.regs[reg]!.set(v);
    return true;
  }
  readMemory(_t: number, addr: bigint, len: number, physical: boolean): Uint8Array {
    this.calls.push(`m${physical ? 'p' : 'v'}`);
    const a = Number(addr);
    return a >= this.mem.length ? new Uint8Array(0) : this.mem.slice(a, Math.min(a + len, this.mem.length));
  }
  writeMemory(_t: number, addr: bigint, data: Uint8Array): boolean {
    if (Number(addr) + data.length > this.mem.length) return false;
    this.mem.set(data, Number(addr));
    return true;
  }
  setBreakpoint(type: ZType, addr: bigint, len: number, insert: boolean): boolean {
    this.calls.push(`${insert ? 'Z' : 'z'}${type}:${addr.toString(16)}:${len}`);
    return true;
  }
  resume(step: number | null): void {
    this.calls.push(`resume:${step}`);
  }
  interrupt(): void {
    this.calls.push('interrupt');
  }
  monitor(cmd: string): string | null {
    return cmd === 'hello' ? 'hi there' : null;
  }
  detach(): void {
    this.calls.push('detach');
  }
  kill(): void {
    this.calls.push('kill');
  }
}

function harness(): { t: FakeTarget; ask: (p: string) => string[]; raw: (b: Uint8Array) => string[]; take: () => string[] } {
  const t = new FakeTarget();
  const decoder = new RspDecoder();
  let out: string[] = [];
  const s = new GdbSession(t, (b) => {
    for (const e of decoder.feed(b)) if (e.kind === 'packet') out.push(Buffer.from(e.data).toString('latin1'));
  });
  const raw = (b: Uint8Array): string[] => {
    out = [];
    s.receive(b);
    return out;
  };
  const take = (): string[] => {
    const o = out;
    out = [];
    return o;
  };
  return { t, ask: (p) => raw(encodePacket(p)), raw, take };
}

test('qSupported, the target description and the thread list', () => {
  const { ask } = harness();
  assert.match(ask('qSupported:multiprocess+;swbreak+')[0]!, /qXfer:features:read\+/);
  const xml = targetXml();
  const first = ask('qXfer:features:read:target.xml:0,64')[0]!;
  assert.equal(first, `m${xml.slice(0, 100)}`);
  const rest = ask(`qXfer:features:read:target.xml:64,${xml.length.toString(16)}`)[0]!;
  assert.equal(rest, `l${xml.slice(100)}`);
  assert.deepEqual(ask('qfThreadInfo'), ['m1,2']);
  assert.deepEqual(ask('qsThreadInfo'), ['l']);
  assert.deepEqual(ask('Hg2'), ['OK']);
  assert.deepEqual(ask('qC'), ['QC2']);
  assert.deepEqual(ask('Hg3'), ['E02']);
  assert.deepEqual(ask('T1'), ['OK']);
  assert.deepEqual(ask('T5'), ['E01']);
  assert.deepEqual(ask('?'), ['T05thread:1;']);
});

test('the description is x86-64 with core, SSE, segment and system features in g-packet order', () => {
  const xml = targetXml();
  assert.match(xml, /<architecture>i386:x86-64<\/architecture>/);
  for (const f of ['org.gnu.gdb.i386.core', 'org.gnu.gdb.i386.sse', 'org.gnu.gdb.i386.segments']) assert.ok(xml.includes(f), f);
  assert.equal(REG_INDEX.get('rip'), 16);
  assert.equal(REG_INDEX.get('st0'), 24);
  assert.equal(REG_INDEX.get('xmm0'), 40);
  for (const name of ['fs_base', 'gs_base', 'cr0', 'cr3', 'cr4', 'efer', 'mxcsr', 'fctrl']) assert.ok(REG_INDEX.has(name), name);
});

test('registers: g is every register in order, p/P one, G writes only what changed', () => {
  const { t, ask } = harness();
  t.regs[16]!.set([0x10, 0x00, 0x10, 0, 0, 0, 0, 0]);
  const g = ask('g')[0]!;
  const total = GDB_REGISTERS.reduce((n, r) => n + r.bits / 4, 0);
  assert.equal(g.length, total);
  assert.equal(g.slice(16 * 16, 16 * 16 + 16), '1000100000000000');
  assert.deepEqual(ask('p10'), ['1000100000000000']);
  assert.deepEqual(ask('P0=0102030405060708'), ['OK']);
  assert.deepEqual([...t.regs[0]!], [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(ask('P0=01'), ['E01']);
  t.calls.length = 0;
  const g2 = ask('g')[0]!;
  assert.deepEqual(ask(`G${'ff'.repeat(8)}${g2.slice(16)}`), ['OK']);
  assert.deepEqual(t.calls.filter((c) => c.startsWith('P')), ['P1:0']);
});

test('memory: m, M, X (binary, escaped), errors, and monitor phys switching to physical addresses', () => {
  const { t, ask, raw } = harness();
  assert.deepEqual(ask('M100,4:deadbeef'), ['OK']);
  assert.deepEqual(ask('m100,4'), ['deadbeef']);
  assert.deepEqual(ask('X0,0:'), ['OK']);
  const head = Buffer.from('X200,3:', 'latin1');
  assert.deepEqual(raw(encodePacket(Uint8Array.from([...head, 0x24, 0x7d, 0x01]))), ['OK']);
  assert.deepEqual([...t.mem.subarray(0x200, 0x203)], [0x24, 0x7d, 0x01]);
  assert.deepEqual(ask('m20000,4'), ['E14']);
  assert.deepEqual(ask('Mffff,4:00000000'), ['E14']);
  assert.deepEqual(ask('mzz,4'), ['E01']);
  const hex = (s: string): string => Buffer.from(s).toString('hex');
  const out = ask(`qRcmd,${hex('phys on')}`);
  assert.equal(Buffer.from(out[0]!.slice(1), 'hex').toString(), 'memory accesses use physical addresses\n');
  assert.equal(out[1], 'OK');
  t.calls.length = 0;
  ask('m0,1');
  assert.deepEqual(t.calls, ['mp']);
  assert.equal(Buffer.from(ask(`qRcmd,${hex('hello')}`)[0]!.slice(1), 'hex').toString(), 'hi there\n');
  assert.deepEqual(ask(`qRcmd,${hex('nonsense')}`), ['E01']);
});

test('breakpoints, resumption, Ctrl-C and stop replies', () => {
  const { t, ask, raw } = harness();
  assert.deepEqual(ask('Z0,100010,1'), ['OK']);
  assert.deepEqual(ask('Z2,2000,4'), ['OK']);
  assert.deepEqual(ask('z0,100010,1'), ['OK']);
  assert.deepEqual(t.calls, ['Z0:100010:1', 'Z2:2000:4', 'z0:100010:1']);
  assert.deepEqual(ask('vCont?'), ['vCont;c;C;s;S']);
  // No reply until the target stops.
  assert.deepEqual(ask('vCont;s:2;c'), []);
  assert.equal(t.calls.at(-1), 'resume:2');
  assert.deepEqual(raw(Uint8Array.of(3)), []);
  assert.equal(t.calls.at(-1), 'interrupt');
  // The stop arrives through the target's callback, as the reply to the pending resume.
  t.onStop({ kind: 'signal', thread: 1, signal: 2 });
  const s2 = harness();
  assert.deepEqual(s2.ask('c'), []);
  s2.t.onStop({ kind: 'watch', thread: 2, address: 0x2000n, watch: 'write' });
  assert.deepEqual(s2.take(), ['T05thread:2;watch:2000;']);
  // A second stop without a resume in between is not sent again.
  s2.t.onStop({ kind: 'step', thread: 1 });
  assert.deepEqual(s2.take(), []);
  s2.t.onStop({ kind: 'watch', thread: 2, address: 0x2000n, watch: 'write' });
  assert.deepEqual(s2.ask('?'), ['T05thread:2;watch:2000;']);
  assert.deepEqual(s2.ask('qC'), ['QC2']);
  assert.equal(stopReply({ kind: 'breakpoint', thread: 1 }), 'T05thread:1;swbreak:;');
  assert.equal(stopReply({ kind: 'signal', thread: 1, signal: 2 }), 'T02thread:1;');
  assert.equal(stopReply({ kind: 'exited', status: 3, detail: '' }), 'W03');
  assert.equal(stopReply({ kind: 'watch', thread: 1, address: 0x10n, watch: 'access' }), 'T05thread:1;awatch:10;');
});

test('acknowledgements until QStartNoAckMode, and a NAK for a bad checksum', () => {
  const t = new FakeTarget();
  const sent: string[] = [];
  const s = new GdbSession(t, (b) => sent.push(Buffer.from(b).toString('latin1')));
  s.receive(encodePacket('qAttached'));
  assert.deepEqual(sent, ['+', '$1#31']);
  sent.length = 0;
  s.receive(Buffer.from('$g#00', 'latin1'));
  assert.deepEqual(sent, ['-']);
  sent.length = 0;
  s.receive(encodePacket('QStartNoAckMode'));
  assert.deepEqual(sent, ['+', '$OK#9a']);
  sent.length = 0;
  s.receive(encodePacket('qAttached'));
  assert.deepEqual(sent, ['$1#31']);
});

test('detach lets the target run without breakpoints; kill ends it', () => {
  const a = harness();
  assert.deepEqual(a.ask('D'), ['OK']);
  assert.ok(a.t.calls.includes('detach'));
  const b = harness();
  b.ask('k');
  assert.ok(b.t.calls.includes('kill'));
});

/** The fake target with reverse execution: `refusal` null means it works. */
class ReverseFake extends FakeTarget {
  constructor(readonly reverseRefusal: string | null) {
    super();
  }
  reverse(step: number | null): void {
    this.calls.push(`reverse:${step}`);
  }
}

function reverseHarness(refusal: string | null): { t: ReverseFake; ask: (p: string) => string[]; take: () => string[] } {
  const t = new ReverseFake(refusal);
  const decoder = new RspDecoder();
  let out: string[] = [];
  const s = new GdbSession(t, (b) => {
    for (const e of decoder.feed(b)) if (e.kind === 'packet') out.push(Buffer.from(e.data).toString('latin1'));
  });
  const take = (): string[] => {
    const o = out;
    out = [];
    return o;
  };
  return { t, ask: (p) => (s.receive(encodePacket(p)), take()), take };
}

test('reverse execution: advertised only where it works; bs/bc run the target backwards; the history start is replaylog:begin', () => {
  // A target without reverse, and one that refuses it: not advertised, and bs/bc refused with the reason.
  const plain = harness();
  assert.doesNotMatch(plain.ask('qSupported:swbreak+')[0]!, /Reverse/);
  const off = reverseHarness('reverse execution needs --accel emu --deterministic (real-time clock)');
  assert.doesNotMatch(off.ask('qSupported:swbreak+')[0]!, /Reverse/);
  const refused = off.ask('bs');
  assert.equal(Buffer.from(refused[0]!.slice(1), 'hex').toString(), 'tsvmm: reverse execution needs --accel emu --deterministic (real-time clock)\n');
  assert.equal(refused[1], 'E.reverse execution needs --accel emu --deterministic (real-time clock)');
  assert.equal(plain.ask('bc')[1], 'E.reverse execution needs --accel emu --deterministic');
  assert.deepEqual(off.t.calls, [], 'a refused bs leaves the target alone');

  const on = reverseHarness(null);
  assert.match(on.ask('qSupported:swbreak+')[0]!, /;ReverseStep\+;ReverseContinue\+/);
  assert.deepEqual(on.ask('Hg2'), ['OK']);
  assert.deepEqual(on.ask('bs'), [], 'the stop reply comes when the target stops');
  on.t.onStop({ kind: 'step', thread: 2 });
  assert.deepEqual(on.take(), ['T05thread:2;']);
  assert.deepEqual(on.ask('bc'), []);
  on.t.onStop({ kind: 'history-begin', thread: 1, note: 'at the start' } as StopEvent);
  const [o, stop] = on.take();
  assert.equal(Buffer.from(o!.slice(1), 'hex').toString(), 'at the start\n');
  assert.equal(stop, 'T05thread:1;replaylog:begin;');
  assert.deepEqual(on.t.calls, ['reverse:2', 'reverse:null']);
  assert.equal(on.ask('bx')[0], '', 'other b packets are unknown');
  assert.equal(stopReply({ kind: 'history-begin', thread: 3 }), 'T05thread:3;replaylog:begin;');
});
