import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PicPair } from './pic-8259.js';

function setup(): { pic: PicPair; out: (port: number, v: number) => void; inb: (port: number) => number; outputs: boolean[] } {
  const pic = new PicPair();
  const outputs: boolean[] = [];
  pic.outputListener = (l) => outputs.push(l);
  const b = new Uint8Array(1);
  const dev = (port: number): { d: { read(o: number, d: Uint8Array): void; write(o: number, d: Uint8Array): void }; off: number } => {
    if (port === 0x20 || port === 0x21) return { d: pic.master, off: port - 0x20 };
    if (port === 0xa0 || port === 0xa1) return { d: pic.slave, off: port - 0xa0 };
    return { d: pic.elcr, off: port - 0x4d0 };
  };
  const out = (port: number, v: number): void => {
    b[0] = v;
    const { d, off } = dev(port);
    d.write(off, b);
  };
  const inb = (port: number): number => {
    const { d, off } = dev(port);
    d.read(off, b);
    return b[0]!;
  };
  return { pic, out, inb, outputs };
}

/** The classic PC initialisation: master at vector 0x20, slave at 0x28, cascade on IR2. */
function initPc(out: (port: number, v: number) => void, icw4 = 0x01): void {
  out(0x20, 0x11);
  out(0x21, 0x20);
  out(0x21, 0x04);
  out(0x21, icw4);
  out(0xa0, 0x11);
  out(0xa1, 0x28);
  out(0xa1, 0x02);
  out(0xa1, icw4);
  out(0x21, 0x00);
  out(0xa1, 0x00);
}

test('ICW1-4 then an edge IRQ: INTR, INTA vector, ISR, non-specific EOI', () => {
  const { pic, out, inb, outputs } = setup();
  initPc(out);
  assert.equal(inb(0x21), 0x00);
  pic.setIrq(1, true);
  assert.equal(pic.output, true);
  assert.deepEqual(outputs, [true]);
  out(0x20, 0x0a); // OCW3: read IRR
  assert.equal(inb(0x20), 0x02);
  assert.equal(pic.acknowledge(), 0x21);
  assert.equal(pic.output, false);
  out(0x20, 0x0b); // OCW3: read ISR
  assert.equal(inb(0x20), 0x02);
  out(0x20, 0x0a);
  assert.equal(inb(0x20), 0x00, 'edge request cleared from IRR by INTA');
  out(0x20, 0x20); // non-specific EOI
  out(0x20, 0x0b);
  assert.equal(inb(0x20), 0x00);
  // Line still high: no new request without a new rising edge.
  assert.equal(pic.output, false);
  pic.setIrq(1, false);
  pic.setIrq(1, true);
  assert.equal(pic.output, true);
});

test('fully nested priorities: lower IRQ number wins and preempts; in-service blocks lower ones', () => {
  const { pic, out, inb } = setup();
  initPc(out);
  pic.setIrq(3, true);
  pic.setIrq(1, true);
  assert.equal(pic.acknowledge(), 0x21);
  assert.equal(pic.output, false, 'IRQ3 is blocked while IRQ1 is in service');
  pic.setIrq(0, true);
  assert.equal(pic.output, true, 'IRQ0 has higher priority than IRQ1');
  assert.equal(pic.acknowledge(), 0x20);
  out(0x20, 0x20); // EOI clears IRQ0 (highest in service)
  out(0x20, 0x0b);
  assert.equal(inb(0x20), 0x02);
  out(0x20, 0x61); // specific EOI for IRQ1
  assert.equal(pic.output, true);
  assert.equal(pic.acknowledge(), 0x23);
});

test('OCW1 mask holds the request in IRR without INTR', () => {
  const { pic, out, inb } = setup();
  initPc(out);
  out(0x21, 0x10);
  pic.setIrq(4, true);
  assert.equal(pic.output, false);
  out(0x20, 0x0a);
  assert.equal(inb(0x20), 0x10);
  out(0x21, 0x00);
  assert.equal(pic.output, true);
  assert.equal(pic.acknowledge(), 0x24);
});

test('cascade: slave IRQ10 arrives through master IR2 with the slave vector', () => {
  const { pic, out, inb } = setup();
  initPc(out);
  pic.setIrq(10, true);
  assert.equal(pic.output, true);
  assert.equal(pic.acknowledge(), 0x2a);
  out(0x20, 0x0b);
  assert.equal(inb(0x20), 0x04, 'master IR2 in service');
  out(0xa0, 0x0b);
  assert.equal(inb(0xa0), 0x04, 'slave IR2 (IRQ10) in service');
  // The slave blocks its lower priorities; the master blocks its IR3+ while IR2 is in service.
  pic.setIrq(11, true);
  pic.setIrq(5, true);
  assert.equal(pic.output, false);
  out(0xa0, 0x20);
  out(0x20, 0x20);
  assert.equal(pic.acknowledge(), 0x2b, 'IRQ11 via IR2 outranks IRQ5');
});

test('spurious interrupt: a level request withdrawn before INTA gives the IR7 vector without ISR', () => {
  const { pic, out, inb } = setup();
  initPc(out);
  out(0x4d0, 0xff);
  assert.equal(inb(0x4d0), 0xf8, 'ELCR bits of IRQ0-2 are reserved');
  out(0x4d1, 0xff);
  assert.equal(inb(0x4d1), 0xde, 'ELCR bits of IRQ8 and IRQ13 are reserved');
  pic.setIrq(5, true);
  assert.equal(pic.output, true);
  pic.setIrq(5, false);
  assert.equal(pic.acknowledge(), 0x27);
  out(0x20, 0x0b);
  assert.equal(inb(0x20), 0x00, 'spurious IR7 sets no ISR bit');
  // A level line stays in IRR after INTA while it is high.
  pic.setIrq(11, true);
  assert.equal(pic.acknowledge(), 0x2b);
  out(0xa0, 0x0a);
  assert.equal(inb(0xa0), 0x08);
});

test('poll command acknowledges like INTA and returns 0x80 | level', () => {
  const { pic, out, inb } = setup();
  initPc(out);
  pic.setIrq(6, true);
  out(0x20, 0x0c);
  assert.equal(inb(0x20), 0x86);
  out(0x20, 0x0b);
  assert.equal(inb(0x20), 0x40);
  out(0x20, 0x0c);
  assert.equal(inb(0x20) & 0x80, 0, 'nothing pending');
});

test('auto-EOI sets no ISR bit', () => {
  const { pic, out, inb } = setup();
  initPc(out, 0x03);
  pic.setIrq(3, true);
  assert.equal(pic.acknowledge(), 0x23);
  out(0x20, 0x0b);
  assert.equal(inb(0x20), 0x00);
});

test('rotation: set-priority and rotate-on-EOI change who wins', () => {
  const { pic, out } = setup();
  initPc(out);
  out(0x20, 0xc3); // IR3 lowest -> IR4 highest
  pic.setIrq(1, true);
  pic.setIrq(5, true);
  assert.equal(pic.acknowledge(), 0x25);
  out(0x20, 0xa0); // rotate on non-specific EOI: IR5 becomes lowest, IR6 highest
  assert.equal(pic.acknowledge(), 0x21);
  out(0x20, 0x20);
  pic.setIrq(5, false);
  pic.setIrq(5, true);
  pic.setIrq(7, true);
  assert.equal(pic.acknowledge(), 0x27, 'IR7 outranks IR5 after the rotation');
});

test('special mask mode lets lower priorities through a masked in-service level', () => {
  const { pic, out } = setup();
  initPc(out);
  pic.setIrq(1, true);
  assert.equal(pic.acknowledge(), 0x21);
  pic.setIrq(4, true);
  assert.equal(pic.output, false);
  out(0x21, 0x02); // mask IR1
  out(0x20, 0x68); // OCW3: ESMM | SMM
  assert.equal(pic.output, true);
  assert.equal(pic.acknowledge(), 0x24);
});

test('ICW1 resets mask and in-service state', () => {
  const { pic, out, inb } = setup();
  initPc(out);
  out(0x21, 0xff);
  pic.setIrq(3, true);
  out(0x21, 0x00);
  pic.acknowledge();
  initPc(out);
  out(0x20, 0x0b);
  assert.equal(inb(0x20), 0);
  assert.equal(inb(0x21), 0);
  assert.equal(pic.output, false, 'edge sense reset: IRQ3 needs a new rising edge');
});
