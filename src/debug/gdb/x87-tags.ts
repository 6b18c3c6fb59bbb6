/**
 * The x87 tag word gdb shows (two bits per physical register: 0 valid, 1 zero, 2 special, 3 empty) from FXSAVE's
 * abridged tag byte (one bit per physical register: 1 = not empty), which is what KVM_GET_FPU gives. The SDM
 * (vol. 1, "FXSAVE") gives the rule: a non-empty register is classified by its exponent and significand.
 */

/** `st(i)` is the 10-byte value of ST(i), i.e. physical register (TOP + i) mod 8. */
export function fullTagWord(abridged: number, fsw: number, st: (i: number) => Uint8Array): number {
  const top = (fsw >> 11) & 7;
  let tags = 0;
  for (let phys = 0; phys < 8; phys++) {
    let tag = 3;
    if ((abridged >> phys) & 1) {
      const v = st((phys - top + 8) & 7);
      const dv = new DataView(v.buffer, v.byteOffset, 10);
      const exp = dv.getUint16(8, true) & 0x7fff;
      const hi = dv.getUint32(4, true);
      const lo = dv.getUint32(0, true);
      if (exp === 0x7fff) tag = 2;
      else if (exp === 0) tag = hi === 0 && lo === 0 ? 1 : 2;
      else tag = (hi & 0x8000_0000) === 0 ? 2 : 0;
    }
    tags |= tag << (2 * phys);
  }
  return tags;
}
