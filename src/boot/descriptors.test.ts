import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CODE64_ATTRS, FLAT_CODE32_ATTRS, FLAT_DATA_ATTRS, TSS_BUSY_ATTRS, decodeDescriptor, encodeDescriptor } from './descriptors.js';

function u64(bytes: Uint8Array): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
}

test('VMX access rights of the boot segments', () => {
  assert.equal(FLAT_CODE32_ATTRS, 0xc09b);
  assert.equal(FLAT_DATA_ATTRS, 0xc093);
  assert.equal(CODE64_ATTRS, 0xa09b);
  assert.equal(TSS_BUSY_ATTRS, 0x8b);
});

test('descriptors encode to the well-known GDT values (SDM vol. 3 figure 3-8)', () => {
  assert.equal(u64(encodeDescriptor(0, 0xffffffff, FLAT_CODE32_ATTRS)), 0x00cf9b000000ffffn);
  assert.equal(u64(encodeDescriptor(0, 0xffffffff, FLAT_DATA_ATTRS)), 0x00cf93000000ffffn);
  assert.equal(u64(encodeDescriptor(0, 0xffffffff, CODE64_ATTRS)), 0x00af9b000000ffffn);
  assert.equal(u64(encodeDescriptor(0x12345678, 0x67, TSS_BUSY_ATTRS)), 0x12008b3456780067n);
});

test('decode inverts encode', () => {
  for (const [base, limit, attrs] of [
    [0, 0xffffffff, FLAT_CODE32_ATTRS],
    [0xabcdef00, 0xfffff, 0x93],
    [0x580, 0x67, TSS_BUSY_ATTRS],
  ] as const) {
    const d = decodeDescriptor(encodeDescriptor(base, limit, attrs));
    assert.deepEqual(d, { selector: 0, base: BigInt(base), limit, attrs });
  }
});

test('limits that the granularity bit cannot express are rejected', () => {
  assert.throws(() => encodeDescriptor(0, 0x100000, 0x93), RangeError);
  assert.throws(() => encodeDescriptor(0, 0x1000, FLAT_DATA_ATTRS), RangeError);
});
