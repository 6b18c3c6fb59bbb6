/**
 * Gives numeric fields V8's double representation from the start.
 *
 * V8 stores a field that has only held small integers as a Smi. The first value outside that range (an
 * address above 2^31, a count read back from a Float64Array) turns the field into a double, and that
 * replaces the object's hidden class: every optimized function that has seen the object is deoptimized
 * and compiled again. For the vCPU that was ~550 of the ~750 deoptimizations in a Linux boot, in waves
 * through the whole boot. Call it in the constructor, before any code runs hot on the object; the values
 * are kept.
 */
export function preferDoubleFields<T extends object>(o: T, keys: readonly (keyof T & string)[]): void {
  const r = o as Record<string, unknown>;
  for (const k of keys) {
    const v = r[k];
    if (typeof v !== 'number') throw new TypeError(`preferDoubleFields: ${k} is not a number field`);
    r[k] = 0.5; // not a Smi: the field becomes a double field for good
    r[k] = v;
  }
}
