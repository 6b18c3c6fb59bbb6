import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../../cpu/bus.js';
import { POST_CODE_PORT, PostCodePort } from './post-code.js';

test('port 0x80 keeps the last POST code, reads all-ones, and is not counted as unclaimed', () => {
  const bus = new Bus('pio');
  const post = new PostCodePort();
  bus.register(POST_CODE_PORT, 1, post, 'post');
  bus.writeValue(0x80, 1, 0x42);
  bus.writeValue(0x80, 1, 0x43);
  assert.equal(post.lastCode, 0x43);
  assert.equal(post.writes, 2);
  assert.equal(bus.readValue(0x80, 1), 0xff);
  assert.equal(bus.stats.unclaimedWrites, 0);
});
