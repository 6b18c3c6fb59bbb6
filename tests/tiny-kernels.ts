/** Multiboot kernels of a few bytes, built in the test (address-field "a.out kludge" header), for crash/hang paths. */
import { writeFileSync } from 'node:fs';

const LOAD = 0x100000;

/** A multiboot image whose entry runs `code` in 32-bit flat protected mode, loaded at `load`. */
export function tinyMultiboot(code: number[], load = LOAD): Uint8Array {
  const header = new DataView(new ArrayBuffer(32));
  const flags = 0x0001_0000; // bit 16: address fields are valid
  const magic = 0x1badb002;
  const words = [magic, flags, (-(magic + flags)) >>> 0, load, load, 0, 0, load + 32];
  words.forEach((w, i) => header.setUint32(i * 4, w >>> 0, true));
  const image = new Uint8Array(32 + code.length + 64);
  image.set(new Uint8Array(header.buffer), 0);
  image.set(code, 32);
  // load_end_addr 0 = whole file; bss_end 0 = no bss.
  return image;
}

export function writeTiny(path: string, code: number[], load = LOAD): string {
  writeFileSync(path, tinyMultiboot(code, load));
  return path;
}

export const CODE = {
  /** ud2 with no IDT (limit 0): #UD cannot be delivered → #DF → triple fault. */
  tripleFault: [0x0f, 0x0b],
  /** cli; hlt: nothing can ever wake the CPU. */
  hang: [0xfa, 0xf4, 0xeb, 0xfd],
  /** xrstor [eax]: this host's paravirtual KVM cannot emulate it (KVM_EXIT_INTERNAL_ERROR). */
  xrstor: [0x31, 0xc0, 0x0f, 0xae, 0x28, 0xf4],
};
