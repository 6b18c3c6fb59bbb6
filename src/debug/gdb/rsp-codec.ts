/**
 * The GDB remote serial protocol's framing: `$payload#cc` packets with a modulo-256 checksum,
 * `+`/`-` acknowledgements, the out-of-band interrupt byte 0x03, and the binary escaping of
 * `X` packets (`}` then the byte XOR 0x20). No I/O here: bytes in, events out.
 */

export type RspEvent =
  /** A well-formed packet's payload (still escaped as sent; see `unescapeBinary`). */
  | { readonly kind: 'packet'; readonly data: Uint8Array }
  /** A packet whose checksum did not match (the sender should get `-`). */
  | { readonly kind: 'bad-checksum' }
  /** Ctrl-C from gdb while the target runs. */
  | { readonly kind: 'interrupt' }
  | { readonly kind: 'ack' }
  | { readonly kind: 'nack' };

const DOLLAR = 0x24;
const HASH = 0x23;
const ESCAPE = 0x7d;

/** Packets larger than this are refused (qSupported advertises PacketSize below it). */
export const MAX_PACKET = 1 << 20;

function checksum(bytes: Uint8Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s = (s + bytes[i]!) & 0xff;
  return s;
}

function hexDigit(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return -1;
}

/** Incremental decoder: feed it whatever the socket delivers. */
export class RspDecoder {
  private buf: number[] = [];
  private inPacket = false;
  /** Bytes of the checksum still expected after `#` (0 = none). */
  private sumLeft = 0;
  private sum = 0;

  feed(chunk: Uint8Array): RspEvent[] {
    const out: RspEvent[] = [];
    for (const b of chunk) {
      if (this.sumLeft > 0) {
        const d = hexDigit(b);
        this.sum = (this.sum << 4) | (d < 0 ? 0x100 : d);
        if (--this.sumLeft === 0) {
          const data = Uint8Array.from(this.buf);
          this.buf = [];
          this.inPacket = false;
          out.push(this.sum === checksum(data, 0, data.length) ? { kind: 'packet', data } : { kind: 'bad-checksum' });
        }
        continue;
      }
      if (this.inPacket) {
        if (b === HASH) {
          this.sumLeft = 2;
          this.sum = 0;
        } else if (this.buf.length >= MAX_PACKET) {
          this.inPacket = false;
          this.buf = [];
          out.push({ kind: 'bad-checksum' });
        } else this.buf.push(b);
        continue;
      }
      if (b === DOLLAR) {
        this.inPacket = true;
        this.buf = [];
      } else if (b === 0x03) out.push({ kind: 'interrupt' });
      else if (b === 0x2b) out.push({ kind: 'ack' });
      else if (b === 0x2d) out.push({ kind: 'nack' });
      // Anything else between packets is line noise: ignored, as gdb does.
    }
    return out;
  }
}

/** Frames `payload` (ASCII or binary, escaped here where needed) as `$...#cc`. */
export function encodePacket(payload: string | Uint8Array): Uint8Array {
  const raw = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const body: number[] = [];
  for (const b of raw) {
    if (b === DOLLAR || b === HASH || b === ESCAPE || b === 0x2a) body.push(ESCAPE, b ^ 0x20);
    else body.push(b);
  }
  const out = new Uint8Array(body.length + 4);
  out[0] = DOLLAR;
  out.set(body, 1);
  out[body.length + 1] = HASH;
  const s = checksum(out, 1, body.length + 1);
  out[body.length + 2] = s.toString(16).padStart(2, '0').charCodeAt(0);
  out[body.length + 3] = s.toString(16).padStart(2, '0').charCodeAt(1);
  return out;
}

/** Undoes the `}`-escaping of binary data (X packets). */
export function unescapeBinary(data: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!;
    if (b === ESCAPE && i + 1 < data.length) out.push(data[++i]! ^ 0x20);
    else out.push(b);
  }
  return Uint8Array.from(out);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Hex text to bytes; null when it is not an even number of hex digits. */
export function fromHex(text: string): Uint8Array | null {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return null;
  return Uint8Array.from(Buffer.from(text, 'hex'));
}

/** A hex number as the protocol writes addresses and lengths (up to 64 bits); null if malformed. */
export function parseHexNumber(text: string): bigint | null {
  if (!/^[0-9a-fA-F]{1,16}$/.test(text)) return null;
  return BigInt(`0x${text}`);
}
