/**
 * Untrusted kernel images for the fuzzer: the project's multiboot guests and synthetic bzImages with their
 * headers corrupted (random bytes, targeted fields with insane values, checksums fixed up so the damage gets
 * past the first check), truncated or padded; bzImages whose body is random code or zeros; and bzImages whose
 * payload tsvmm decompresses on the host (gzip of a random vmlinux, damaged gzip, junk behind the magic of
 * xz/lzma/lz4/zstd/bzip2 with any length field). The loader must refuse each with one line (status 66), or
 * what it accepts must run and end like any guest.
 */
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
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
  /** bzImages: who decompresses the kernel (--kernel-decompress). */
  readonly decompress: 'host' | 'guest';
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

/** A small x86-64 vmlinux: ELF64 with PT_LOAD segments of random code where a kernel would be linked. */
function randomVmlinux(rng: Prng, tags: string[]): Uint8Array {
  const nseg = rng.range(1, 3);
  const segs = Array.from({ length: nseg }, (_, i) => ({
    paddr: rng.chance(0.8) ? 0x1000000 + i * 0x200000 : wild(rng),
    data: randomCode(rng, rng.range(64, 8192), { selfLinear: 0x1000000, targets: [0x1000000, 0x100000], long: true }),
    extra: rng.chance(0.8) ? rng.below(0x10000) : wild(rng),
  }));
  const phoff = 64;
  let at = phoff + 56 * nseg;
  const out = new Uint8Array(at + segs.reduce((n, x) => n + x.data.length, 0));
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(0x10, 2, true); // ET_EXEC
  v.setUint16(0x12, 0x3e, true); // x86-64
  v.setUint32(0x14, 1, true);
  v.setBigUint64(0x18, BigInt(rng.chance(0.8) ? segs[0]!.paddr : wild(rng)), true);
  v.setBigUint64(0x20, BigInt(phoff), true);
  v.setUint16(0x34, 64, true);
  v.setUint16(0x36, 56, true);
  v.setUint16(0x38, rng.chance(0.9) ? nseg : rng.below(0x10000), true);
  segs.forEach((x, i) => {
    const ph = phoff + 56 * i;
    v.setUint32(ph, 1, true); // PT_LOAD
    v.setUint32(ph + 4, 5, true);
    v.setBigUint64(ph + 8, BigInt(rng.chance(0.95) ? at : wild(rng)), true);
    v.setBigUint64(ph + 16, 0xffffffff80000000n + BigInt(x.paddr), true);
    v.setBigUint64(ph + 24, BigInt(x.paddr), true);
    v.setBigUint64(ph + 32, BigInt(rng.chance(0.95) ? x.data.length : wild(rng)), true);
    v.setBigUint64(ph + 40, BigInt(x.data.length + x.extra), true);
    v.setBigUint64(ph + 48, 0x200000n, true);
    out.set(x.data, at);
    at += x.data.length;
  });
  tags.push(`vmlinux ${nseg} segment${nseg > 1 ? 's' : ''}`);
  return out;
}

/** A bzImage whose payload tsvmm decompresses on the host: gzip of a random vmlinux, or damaged or fake streams. */
function compressedBzImage(rng: Prng, tags: string[]): Uint8Array {
  const inner = rng.chance(0.8) ? randomVmlinux(rng, tags) : rng.bytes(rng.range(16, 4096));
  let payload: Uint8Array;
  const kind = rng.below(4);
  if (kind <= 1) {
    payload = new Uint8Array(gzipSync(inner));
    tags.push('gzip payload');
    if (kind === 1) {
      for (let k = rng.range(1, 8); k > 0; k--) payload[rng.below(payload.length)] = rng.below(256);
      tags.push('damaged');
    }
  } else {
    // The magic of another format the kernel uses, then junk, then a length field (sometimes huge).
    const magic = rng.pick([[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], [0x5d, 0x00, 0x00], [0x02, 0x21, 0x4c, 0x18], [0x28, 0xb5, 0x2f, 0xfd], [0x42, 0x5a, 0x68]]);
    payload = new Uint8Array(magic.length + rng.range(8, 2048) + 4);
    payload.set(magic);
    payload.set(rng.bytes(payload.length - magic.length - 4), magic.length);
    new DataView(payload.buffer).setUint32(payload.length - 4, rng.chance(0.5) ? rng.range(1, 1 << 20) : wild(rng), true);
    tags.push(`fake ${magic[0]!.toString(16)} payload`);
  }
  const img = buildBzImage({ kernelBytes: 0x1000 + payload.length });
  const setupBytes = (img[0x1f1]! + 1) * 512;
  img.set(payload, setupBytes + 0x1000);
  const v = new DataView(img.buffer);
  v.setUint32(0x248, rng.chance(0.9) ? 0x1000 : wild(rng), true); // payload_offset, from the protected-mode part
  v.setUint32(0x24c, rng.chance(0.9) ? payload.length : wild(rng), true); // payload_length
  return img;
}

export function generateImage(seed: number, index: number): FuzzImage {
  const rng = new Prng((seed ^ Math.imul(index + 1, 0x85ebca6b) ^ 0x1a2b3c4d) >>> 0);
  const tags: string[] = [];
  let bytes: Uint8Array;
  const which = rng.below(10);
  if (which < 5) {
    const name = rng.pick(BASE_GUESTS);
    tags.push(name);
    bytes = mutateMultiboot(rng, new Uint8Array(readFileSync(guestPath(name))), tags);
  } else if (which < 8) {
    bytes = compressedBzImage(rng, tags);
  } else {
    bytes = randomBzImage(rng, tags);
  }
  const memMiB = rng.pick([16, 32, 64]);
  // Uncompressed bodies only boot when the guest decompresses (enters at +0x200); payloads when the host does.
  const decompress = which >= 8 || (which < 8 && which >= 5 && rng.chance(0.1)) ? 'guest' : 'host';
  return { seed, index, kind: `image ${tags.join(', ')} ${memMiB}M${decompress === 'guest' ? ' guest-decompress' : ''}`, bytes, memMiB, cpus: rng.chance(0.2) ? 2 : 1, deterministic: rng.chance(0.7), decompress };
}
