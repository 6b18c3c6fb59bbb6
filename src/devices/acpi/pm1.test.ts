import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../../cpu/bus.js';
import { RecordingIrqLine } from '../../cpu/irq.js';
import type { VmStop } from '../../cpu/vm.js';
import { AcpiPm1, PM1_PWRBTN_STS, PM1_WAK_STS } from './pm1.js';

function pm() {
  const pio = new Bus('pio');
  const stops: VmStop[] = [];
  const sci = new RecordingIrqLine(9);
  const dev = new AcpiPm1({ requestStop: (s) => stops.push(s) }, sci);
  pio.register(0x600, 6, dev, 'pm1');
  return { pio, stops, sci, dev };
}

test('PM1_CNT: SCI_EN reads 1 (ACPI mode from reset), SLP_EN with S5 powers off, SLP_EN reads 0', () => {
  const { pio, stops } = pm();
  assert.equal(pio.readValue(0x604, 2), 1);
  pio.writeValue(0x604, 2, 5 << 10); // SLP_TYP without SLP_EN: stored only
  assert.equal(pio.readValue(0x604, 2), (5 << 10) | 1);
  assert.equal(stops.length, 0);
  // Linux writes SLP_TYP first, then SLP_TYP | SLP_EN (acpi_hw_legacy_sleep).
  pio.writeValue(0x604, 2, 0x2000);
  assert.deepEqual(stops, [{ kind: 'poweroff' }]);
  assert.equal(pio.readValue(0x604, 2) & 0x2000, 0);
});

test('other sleep types do not stop the VM: the machine "wakes" at once with WAK_STS', () => {
  const { pio, stops, dev } = pm();
  pio.writeValue(0x604, 2, (1 << 10) | 0x2000);
  assert.equal(stops.length, 0);
  assert.equal(dev.ignoredSleeps, 1);
  assert.equal(pio.readValue(0x600, 2) & PM1_WAK_STS, PM1_WAK_STS);
  pio.writeValue(0x600, 2, PM1_WAK_STS);
  assert.equal(pio.readValue(0x600, 2), 0, 'status bits clear by writing 1');
});

test('the power button sets PWRBTN_STS and raises the SCI while enabled, until the OS clears it', () => {
  const { pio, sci, dev } = pm();
  dev.pressPowerButton();
  assert.equal(pio.readValue(0x600, 2), PM1_PWRBTN_STS);
  assert.equal(sci.level, false, 'not enabled yet');
  pio.writeValue(0x602, 2, 0xffff);
  assert.equal(pio.readValue(0x602, 2), 0x0721, 'only the defined enable bits stick');
  assert.equal(sci.level, true);
  pio.writeValue(0x600, 2, 0); // writing 0 changes nothing
  assert.equal(sci.level, true);
  pio.writeValue(0x600, 1, 0); // byte writes too
  pio.writeValue(0x601, 1, PM1_PWRBTN_STS >> 8);
  assert.equal(sci.level, false);
  assert.equal(pio.readValue(0x600, 4), 0x0721 << 16);
  const s = dev.saveState();
  dev.pressPowerButton();
  dev.restoreState(s);
  assert.equal(sci.level, false);
});

test('the PM timer counts the guest clock at 3.579545 MHz over all 32 bits', async () => {
  const { AcpiPmTimer } = await import('./pm-timer.js');
  let ns = 0;
  const pio = new Bus('pio');
  pio.register(0x608, 4, new AcpiPmTimer(() => ns), 'pm timer');
  assert.equal(pio.readValue(0x608, 4), 0);
  ns = 1e9;
  assert.equal(pio.readValue(0x608, 4), 3_579_545);
  ns = 1300e9; // past 2^32 ticks (about 1200 s): wraps
  assert.equal(pio.readValue(0x608, 4), (1300 * 3_579_545) % 2 ** 32);
  assert.equal(pio.readValue(0x60a, 2), ((1300 * 3_579_545) % 2 ** 32) >>> 16);
});
