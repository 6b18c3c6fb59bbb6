/** Parses sizes like "256M", "1G", "4096", "64K" (binary units). Returns bytes or throws RangeError naming the input. */
export function parseSize(text: string, what = 'size'): number {
  const m = /^\s*(\d+)\s*([KMGT]?)(i?B)?\s*$/i.exec(text);
  if (!m) throw new RangeError(`${what} "${text}" is not a size: use a number with an optional K, M, G or T suffix (e.g. 256M)`);
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toUpperCase();
  const mult = unit === 'K' ? 1024 : unit === 'M' ? 1024 ** 2 : unit === 'G' ? 1024 ** 3 : unit === 'T' ? 1024 ** 4 : 1;
  const bytes = n * mult;
  if (!Number.isSafeInteger(bytes)) throw new RangeError(`${what} "${text}" is too large`);
  return bytes;
}

export function formatSize(bytes: number): string {
  for (const [unit, mult] of [['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) {
    if (bytes >= mult && bytes % mult === 0) return `${bytes / mult}${unit}`;
  }
  return `${bytes}`;
}
