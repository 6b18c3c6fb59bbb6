// A node:test reporter that prints only what the run did not cover on this host: skipped tests
// grouped by their reason, and the "host coverage: ..." diagnostics tests print for cases they could
// not compare (e.g. the native differential suite on a CPU that refuses LDT selectors). run-tests.mjs
// runs it beside the normal reporter and prints its output after the run, where it cannot be missed.
const PREFIX = 'host coverage: ';

export default async function* hostCoverage(source) {
  const skips = new Map();
  const notCompared = [];
  let tests = 0;
  for await (const event of source) {
    const { type, data } = event;
    if (type === 'test:pass' || type === 'test:fail') {
      if (data.details?.type === 'suite') continue;
      tests++;
      if (data.skip !== undefined && data.skip !== false) {
        const reason = typeof data.skip === 'string' && data.skip !== '' ? data.skip : '(no reason given)';
        const entry = skips.get(reason) ?? { count: 0, example: data.name };
        entry.count++;
        skips.set(reason, entry);
      }
    } else if (type === 'test:diagnostic' && typeof data.message === 'string' && data.message.startsWith(PREFIX)) {
      notCompared.push(data.message.slice(PREFIX.length));
    }
  }
  const skipped = [...skips.values()].reduce((n, e) => n + e.count, 0);
  const lines = ['', `Host coverage: ${tests} ${tests === 1 ? 'test' : 'tests'}, ${skipped} skipped${notCompared.length ? ', and differential cases not compared on this host' : ''}:`];
  if (skipped === 0 && notCompared.length === 0) lines.push('  Everything ran: nothing skipped, every differential case compared.');
  for (const [reason, e] of [...skips.entries()].sort((a, b) => b[1].count - a[1].count)) {
    lines.push(`  skipped ${String(e.count).padStart(3)} ${e.count === 1 ? 'test: ' : 'tests:'} ${reason}${e.count > 1 ? ` (e.g. "${e.example}")` : ` ("${e.example}")`}`);
  }
  for (const m of notCompared) lines.push(`  ${m}`);
  yield lines.join('\n') + '\n';
}
