/**
 * Test-only: the apic-timer guest (guests/apic-timer) as the snapshot tests move it between machines: its
 * exact output from guests/manifest.json and the lines that start its timer phases.
 */
import { readFileSync } from 'node:fs';

/** What an undisturbed run prints (guests/manifest.json, run `apic-timer`). */
export const APIC_TIMER_OUTPUT = ((): string => {
  const m = JSON.parse(readFileSync(new URL('../../../../guests/manifest.json', import.meta.url), 'utf8')) as { guests: { name: string; runs: { id: string; expect: { exact?: string } }[] }[] };
  return m.guests.find((g) => g.name === 'apic-timer')!.runs.find((r) => r.id === 'apic-timer')!.expect.exact!;
})();

/** A line that starts each timer phase: a snapshot taken when one appears moves running timers. */
export const APIC_TIMER_PHASES = ['waiting for 10 periodic ticks', 'periodic:', 'shorthand self):', 'through the IOAPIC:'];
