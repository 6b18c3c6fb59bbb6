// The page (web/, npm run web) in Debian's chromium, headless, driven by playwright-core: the demo guest's
// output in the xterm.js terminal, keys typed into the terminal reaching the echo guest (over the
// SharedArrayBuffer ring, and over messages on a page without cross-origin isolation), Linux to its shell
// answering `uname -a`, a screenshot of each saved as an artifact; any console error fails the test.
// About 30 s without Linux (chromium starts once); Linux to its prompt is ~1.6 billion guest instructions, a few
// minutes (6.5 at load 18). Skipped with the reason where chromium or the Linux images are missing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { artifactDir, browserMissing, launchChromium, root, watchErrors, webModule } from './browser-env.js';
import { SHELL_PROMPT } from '../../src/vmm/linux-guest.js';

const missing = await browserMissing();
let browser: Browser | undefined;
const servers: import('node:http').Server[] = [];
let isolatedUrl = '';
let plainUrl = '';

before(async () => {
  if (missing) return;
  const web = await webModule();
  await web.buildWeb({ quiet: true });
  const a = await web.serveWeb({ port: 0, quiet: true });
  const b = await web.serveWeb({ port: 0, quiet: true, isolate: false });
  servers.push(a.server, b.server);
  isolatedUrl = a.url;
  plainUrl = b.url;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  for (const s of servers) s.close();
});

interface PageState {
  screen: string;
  serial: string;
  stop: string | undefined;
  stats: { console: string; instructions: number; exits: Record<string, number>; host: { scheduler: string } } | undefined;
}

async function state(page: Page): Promise<PageState> {
  return page.evaluate(() => {
    const p = (globalThis as unknown as { tsvmmPage: { screenText(): string; serialText: string; stopMessage: string | undefined; stats: PageState['stats'] } }).tsvmmPage;
    return { screen: p.screenText(), serial: p.serialText, stop: p.stopMessage, stats: p.stats };
  });
}

/** Polls the page until `ok` holds or the time is up; returns the last state either way. */
async function waitFor(page: Page, ok: (s: PageState) => boolean, ms: number): Promise<PageState> {
  const end = Date.now() + ms;
  let s = await state(page);
  while (!ok(s) && Date.now() < end) {
    await page.waitForTimeout(100);
    s = await state(page);
  }
  return s;
}

async function open(url: string, guest: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser!.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = watchErrors(page);
  await page.goto(url);
  await page.selectOption('#guest', guest);
  await page.click('#start');
  return { page, errors };
}

async function shot(page: Page, name: string): Promise<string> {
  const f = join(artifactDir(), `browser-${name}.png`);
  await page.screenshot({ path: f });
  return f;
}

test('the demo guest boots in a Worker and its output appears in the terminal', { skip: missing ?? false }, async (t) => {
  const { page, errors } = await open(isolatedUrl, 'demo');
  // xterm.js parses what it is given in time slices, so on a loaded host the screen can still be catching up
  // with the serial output when the stop arrives: wait for both (the serial text is complete at the stop).
  const s = await waitFor(page, (x) => x.stop !== undefined && x.screen.includes('All done; powering off'), 60_000);
  t.diagnostic(`screenshot: ${await shot(page, 'demo')}`);
  assert.match(s.serial, /All done; powering off/, 'the whole output reached the page');
  assert.match(s.screen, /tsvmm demo guest/);
  assert.match(s.screen, /CPU mode {5}: 64-bit long mode/);
  assert.match(s.screen, /All done; powering off/);
  assert.equal(s.stop, 'the guest powered off');
  assert.equal(await page.evaluate(() => (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated), true);
  assert.equal(s.stats?.console, 'shared-memory');
  t.diagnostic(`yields through ${s.stats?.host.scheduler}`);
  assert.deepEqual(errors, []);
  await page.close();
});

for (const [name, isolated] of [['shared-memory ring', true], ['messages (no cross-origin isolation)', false]] as const) {
  test(`keys typed into the terminal reach the echo guest: ${name}`, { skip: missing ?? false }, async (t) => {
    const { page, errors } = await open(isolated ? isolatedUrl : plainUrl, 'echo');
    let s = await waitFor(page, (x) => x.serial.includes('echo: ready'), 30_000);
    assert.match(s.serial, /echo: ready \(interrupt/);
    await page.click('#terminal');
    await page.keyboard.type('hello from chromium');
    s = await waitFor(page, (x) => x.screen.includes('hello from chromium'), 20_000);
    assert.match(s.screen, /hello from chromium/);
    await page.keyboard.press('Control+D');
    s = await waitFor(page, (x) => x.stop !== undefined, 20_000);
    assert.match(s.serial, /echo: 19 bytes/);
    assert.equal(s.stats?.console, isolated ? 'shared-memory' : 'messages');
    assert.ok((s.stats?.exits['io'] ?? 0) > 0 && (s.stats?.exits['interrupts'] ?? 0) > 0, JSON.stringify(s.stats?.exits));
    const figures = await page.evaluate(() => {
      // Runs in the page (DOM), typed here without the DOM library.
      const doc = (globalThis as unknown as { document: { getElementById(id: string): { textContent: string | null } } }).document;
      return { mips: doc.getElementById('f-mips').textContent, exits: doc.getElementById('f-exits').textContent };
    });
    assert.match(figures.exits ?? '', /io/);
    if (isolated) t.diagnostic(`screenshot: ${await shot(page, 'echo')}`);
    assert.deepEqual(errors, []);
    await page.close();
  });
}

const kernel = join(root, '.cache', 'debian-kernel', 'vmlinuz');
const initrd = join(root, '.cache', 'linux-guest', 'initramfs.cpio');
const linuxSkip = missing ?? (!existsSync(kernel) || !existsSync(initrd) ? 'no Linux guest in .cache/ (node scripts/fetch-linux-guest.mjs)' : false);

test('Linux boots in the page to its shell and answers uname -a', { skip: linuxSkip, timeout: 900_000 }, async (t) => {
  const { page, errors } = await open(isolatedUrl, 'linux');
  let s = await waitFor(page, (x) => x.serial.includes(SHELL_PROMPT) || x.stop !== undefined, 600_000);
  assert.ok(s.serial.includes(SHELL_PROMPT), `no shell prompt; stop: ${s.stop}; last output: ${s.serial.slice(-2000)}`);
  await page.click('#terminal');
  await page.keyboard.type('uname -a\n');
  s = await waitFor(page, (x) => /Linux \S+ \S+ .*x86_64/.test(x.serial), 120_000);
  assert.match(s.serial, /Linux \S+ 6\.\S+ .*x86_64/);
  t.diagnostic(`screenshot: ${await shot(page, 'linux')}`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a kernel chosen as a file boots; pause holds the guest, resume lets it go on, reset starts it over', { skip: missing ?? false }, async (t) => {
  const page = await browser!.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = watchErrors(page);
  await page.goto(isolatedUrl);
  // The file input behind "choose files" (dropping files on the page goes through the same path).
  await page.setInputFiles('#files', join(root, 'guests', 'build', 'ticker.elf'));
  // The page reads the file's head before it offers it (async): wait for the choice, then check it.
  await page.waitForFunction(
    () => (globalThis as unknown as { document: { getElementById(id: string): { value: string } } }).document.getElementById('guest').value === 'files',
    undefined,
    { timeout: 10_000 },
  ).catch(() => undefined);
  assert.equal(await page.inputValue('#guest'), 'files');
  await page.click('#start');
  let s = await waitFor(page, (x) => x.serial.includes('tick 3 '), 60_000);
  assert.match(s.serial, /^ticker: 0 lines of 20000 steps\r?\n/);
  await page.click('#pause');
  await page.waitForTimeout(300); // a slice in flight may still finish its line
  const held = (await state(page)).serial;
  await page.waitForTimeout(1500);
  assert.equal((await state(page)).serial, held, 'no guest output while paused');
  await page.click('#pause'); // now labelled Resume
  s = await waitFor(page, (x) => x.serial.length > held.length + 20, 30_000);
  assert.ok(s.serial.startsWith(held), 'resumed where it was');
  await page.click('#reset');
  s = await waitFor(page, (x) => /tick 2 /.test(x.serial), 60_000);
  assert.match(s.serial, /^ticker: 0 lines of 20000 steps\r?\ntick 1 sum/, 'reset boots the kernel again from the start');
  t.diagnostic(`screenshot: ${await shot(page, 'files')}`);
  assert.deepEqual(errors, []);
  await page.close();
});
