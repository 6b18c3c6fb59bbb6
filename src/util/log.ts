/** Minimal leveled logger writing to stderr; the CLI sets the level. Never used on hot paths. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };
let current: LogLevel = 'warn';
let sink: (line: string) => void = (line) => {
  // globalThis.console keeps this module browser-portable.
  globalThis.console.error(line);
};

export function setLogLevel(level: LogLevel): void {
  current = level;
}
export function setLogSink(fn: (line: string) => void): void {
  sink = fn;
}
function emit(level: LogLevel, msg: string): void {
  if (ORDER[level] <= ORDER[current]) sink(`tsvmm: ${level === 'info' ? '' : level + ': '}${msg}`);
}
export const log = {
  error: (m: string) => emit('error', m),
  warn: (m: string) => emit('warn', m),
  info: (m: string) => emit('info', m),
  debug: (m: string) => emit('debug', m),
  enabled: (level: LogLevel) => ORDER[level] <= ORDER[current],
};

const warnedOnce = new Set<string>();
/** Distinct one-time warnings shown before they are only counted (a guest can hit hundreds of unimplemented opcodes). */
export const WARN_ONCE_LIMIT = 32;
let unshown = 0;

/**
 * Logs a warning the first time `key` is seen (e.g. an unimplemented opcode). After WARN_ONCE_LIMIT distinct
 * keys, one line says further ones are not shown, and they are only counted (`unshownWarnings()`).
 */
export function warnOnce(key: string, msg: string): void {
  if (warnedOnce.has(key)) return;
  warnedOnce.add(key);
  if (warnedOnce.size <= WARN_ONCE_LIMIT) {
    log.warn(msg);
    return;
  }
  if (unshown++ === 0) log.warn(`${WARN_ONCE_LIMIT} distinct warnings so far: further ones are counted, not shown`);
}

/** Distinct one-time warnings past the limit, not shown. */
export function unshownWarnings(): number {
  return unshown;
}
