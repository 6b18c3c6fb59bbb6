/** The standard ACPI table header (ACPI 6.4, 5.2.6) and checksums. */
export const ACPI_OEM_ID = 'TSVMM ';
export const ACPI_OEM_TABLE_ID = 'TSVMMPC ';
export const ACPI_CREATOR_ID = 'TSVM';
export const ACPI_HEADER_SIZE = 36;

export function checksum(bytes: Uint8Array, from = 0, to = bytes.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s = (s + bytes[i]!) & 0xff;
  return (0x100 - s) & 0xff;
}

export function ascii(out: Uint8Array, at: number, s: string, len: number): void {
  for (let i = 0; i < len; i++) out[at + i] = i < s.length ? s.charCodeAt(i) : 0x20;
}

/** A table of `length` bytes with its standard header filled in; the caller fills the body, then `seal`s it. */
export function tableWithHeader(signature: string, length: number, revision: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(length);
  const view = new DataView(bytes.buffer);
  ascii(bytes, 0, signature, 4);
  view.setUint32(4, length, true);
  bytes[8] = revision;
  ascii(bytes, 10, ACPI_OEM_ID, 6);
  ascii(bytes, 16, ACPI_OEM_TABLE_ID, 8);
  view.setUint32(24, 1, true); // OEM revision
  ascii(bytes, 28, ACPI_CREATOR_ID, 4);
  view.setUint32(32, 1, true); // creator revision
  return { bytes, view };
}

/** Sets the checksum byte (offset 9) so all bytes of the table sum to 0. */
export function seal(table: Uint8Array): Uint8Array {
  table[9] = 0;
  table[9] = checksum(table);
  return table;
}

