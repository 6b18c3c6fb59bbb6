/**
 * Untrusted kernel images for the fuzzer: the project's multiboot guests and synthetic bzImages with their
 * headers corrupted (random bytes, targeted fields with insane values, checksums fixed up so the damage gets
 * past the first check), truncated or padded, and bzImages whose body is random code or zeros. The loader must
 * refuse each with one line (status 66), or what it accepts must run and end like any guest.
 */
import { readFileSync } from 'node:fs';
import { Prng } from '../differential/prng.js';
import { buildBzImage } from '../../src/boot/testing/images.js';
import { guestPath } from '../guest-runner.js';
import { randomCode } from './code-gen.js';

export interface FuzzImage {
  readonly seed: number;
  readonly index: number;
  readonly kind: string;
  readonly bytes: Uint8Array;
  readonly memMiB: number;
  readonly cpus: number;
  readonly deterministic: boolean;
}

const BASE_GUESTS = ['hello', 'longmode', 'smp', 'platform', 'exit-code'];
const MB_MAGIC = 0x1badb002;

/** Where the multiboot header is (first 8 KiB, 4-aligned), or -1. */
function multibootHeaderAt(b: Uint8Array): number {
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  for (let o = 0; o + 12 <= Math.min(b.length, 8192); o += 4) if (v.getUint32(o, true) === MB_MAGIC) return o;
  return -1;
}

function wild(rng: Prng): number {
  return rng.pick([0, 1, 0xffffffff, 0x7fffffff, 0x80000000, 0xfee00000, 0xfec00000, 0xc0000000, 0x100000, 0xa0000, 0xfff, rng.u32(), rng.below(0x4000000)]) >>> 0;
}

function mutateMultiboot(rng: Prng, image: Uint8Array, tags: string[]): Uint8Array {
  const b = image.slice();
  const v = new DataView(b.buffer);
  const mb = multibootHeaderAt(b);
  const edits = rng.range(1, 6);
  for (let n = 0; n < edits; n++) {
    switch (rng.below(5)) {
      case 0: {
        // ELF header and program headers: e_phoff, e_phnum, p_offset, p_paddr, p_filesz, p_memsz, e_entry.
        const phoff = v.getUint32(0x1c, true);
        const field = rng.pick([0x18, 0x1c, 0x2c, 0x2a, phoff + 4, phoff + 12, phoff + 16, phoff + 20, phoff + 0x20 + 16, phoff + 0x20 + 20]);
        if (field + 4 <= b.length) {
          if (field === 0x2c || field === 0x2a) v.setUint16(field, rng.pick([0, 1, 0xffff, rng.below(64)]), true);
          else v.setUint32(field, wild(rng), true);
          tags.push(`elf field 0x${field.toString(16)}`);
        }
        break;
      }
      case 1:
        if (mb >= 0) {
          // Multiboot flags and address fields, checksum made right again most of the time.
          const field = mb + 4 * rng.range(1, 7);
          v.setUint32(field, field === mb + 4 ? rng.pick([0x10000, 0x10003, 0x10007, 0x3, rng.u32()]) >>> 0 : wild(rng), true);
          if (rng.chance(0.8)) v.setUint32(mb + 8, (-(MB_MAGIC + v.getUint32(mb + 4, true)) >>> 0) >>> 0, true);
          tags.push(`multiboot field ${(field - mb) / 4}`);
        }
        break;
      case 2:
        for (let k = rng.range(1, 16); k > 0; k--) b[rng.below(Math.min(b.length, 8192))] = rng.below(256);
        tags.push('header bytes');
        break;
      case 3:
        tags.push('truncated');
        return b.slice(0, rng.below(b.length));
      default:
        for (let k = rng.range(1, 64); k > 0; k--) b[rng.below(b.length)] = rng.below(256);
        tags.push('body bytes');
    }
  }
  return b;
}

function randomBzImage(rng: Prng, tags: string[]): Uint8Array {
  const body = rng.pick(['random code', 'zeros', 'pattern']);
  tags.push(`bzImage ${body}`);
  const kernelBytes = rng.pick([0x1000, 0x3000, 0x20000, 0x100000]);
  const img = buildBzImage({
    kernelBytes,
    setupSects: rng.chance(0.8) ? 4 : rng.pick([0, 1, 63, 255]),
    ...(rng.chance(0.3) ? { prefAddress: wild(rng) } : {}),
    ...(rng.chance(0.3) ? { initSize: wild(rng) } : {}),
    ...(rng.chance(0.2) ? { kernelAlignment: wild(rng) } : {}),
    ...(rng.chance(0.2) ? { relocatable: rng.chance(0.5) } : {}),
    ...(rng.chance(0.2) ? { cmdlineSize: wild(rng) } : {}),
    ...(rng.chance(0.2) ? { initrdAddrMax: wild(rng) } : {}),
    ...(rng.chance(0.1) ? { version: rng.range(0x0200, 0x0210) } : {}),
    ...(rng.chance(0.1) ? { xloadflags: rng.below(256) } : {}),
    ...(rng.chance(0.1) ? { loadflags: rng.below(256) } : {}),
  });
  const setupBytes = (img[0x1f1]! + 1) * 512;
  if (body === 'zeros') img.fill(0, Math.min(setupBytes, img.length));
  else if (body === 'random code' && setupBytes < img.length) {
    img.set(randomCode(rng, img.length - setupBytes, { selfLinear: 0x1000000, targets: [0x1000000, 0x2000000, 0x100000], long: true }).subarray(0, img.length - setupBytes), setupBytes);
  }
  if (rng.chance(0.3)) {
    // syssize or random setup-header bytes.
    const v = new DataView(img.buffer);
    if (rng.chance(0.5)) v.setUint32(0x1f4, wild(rng), true);
    else for (let k = rng.range(1, 8); k > 0; k--) img[0x1f1 + rng.below(0x80)] = rng.below(256);
    tags.push('setup header bytes');
  }
  return rng.chance(0.1) ? img.slice(0, rng.below(img.length)) : img;
}

export function generateImage(seed: number, index: number): FuzzImage {
  const rng = new Prng((seed ^ Math.imul(index + 1, 0x85ebca6b) ^ 0x1a2b3c4d) >>> 0);
  const tags: string[] = [];
  let bytes: Uint8Array;
  if (rng.chance(0.6)) {
    const name = rng.pick(BASE_GUESTS);
    tags.push(name);
    bytes = mutateMultiboot(rng, new Uint8Array(readFileSync(guestPath(name))), tags);
  } else {
    bytes = randomBzImage(rng, tags);
  }
  const memMiB = rng.pick([16, 32, 64]);
  return { seed, index, kind: `image ${tags.join(', ')} ${memMiB}M`, bytes, memMiB, cpus: rng.chance(0.2) ? 2 : 1, deterministic: rng.chance(0.7) };
}
