/** Test-only: resolves once `cond()` holds, polling every `pollMs`; rejects naming `what` after `ms`. */
export async function until(cond: () => boolean, what: string, ms: number, pollMs: number): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`no ${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
