import { test } from 'node:test';
import assert from 'node:assert/strict';
import { release } from 'node:os';
import { SysError, closeFd, errnoName, eventfd, ioctlInt, mmapAnonymous, munmap, openFile, prefaultInBackground, readFd, writeFd, O_RDWR, EFD_CLOEXEC } from './libc.js';

test('errno becomes a named SysError with a message saying what failed', () => {
  assert.throws(
    () => openFile('/nonexistent/dir/kvm', O_RDWR),
    (e: unknown) => e instanceof SysError && e.code === 'ENOENT' && e.errno === 2 && /^Cannot open \/nonexistent\/dir\/kvm: no such file/.test(e.message),
  );
  assert.throws(() => ioctlInt(987654, 0xae00, 0, 'KVM_GET_API_VERSION on a closed fd'), (e: unknown) => e instanceof SysError && e.code === 'EBADF' && e.message.startsWith('KVM_GET_API_VERSION on a closed fd: '));
  assert.equal(errnoName(13), 'EACCES');
});

test('anonymous mmap is zero-filled native memory viewed without copies', () => {
  const m = mmapAnonymous(1 << 16);
  assert.equal(m.bytes.length, 1 << 16);
  assert.ok(m.address > 0n && m.address % 4096n === 0n, 'page-aligned address');
  assert.equal(m.bytes[12345], 0);
  m.bytes[100] = 0x5a;
  assert.equal(new Uint8Array(m.bytes.buffer)[100], 0x5a);
  munmap(m);
});

test('eventfd counts writes and reads them back as one u64', () => {
  const fd = eventfd(0, EFD_CLOEXEC);
  const one = new Uint8Array(8);
  new DataView(one.buffer).setBigUint64(0, 3n, true);
  assert.equal(writeFd(fd, one), 8);
  assert.equal(writeFd(fd, one), 8);
  const got = new Uint8Array(8);
  assert.equal(readFd(fd, got), 8);
  assert.equal(new DataView(got.buffer).getBigUint64(0, true), 6n);
  closeFd(fd);
});

test('prefaultInBackground makes memory resident without changing it, and says when it is done', async () => {
  const m = mmapAnonymous(8 << 20);
  m.bytes.fill(0xa5, 0, 4096);
  m.bytes[(8 << 20) - 1] = 0x3c;
  const ok = await new Promise<boolean>((resolve) => prefaultInBackground(m.bytes.subarray(0, 8 << 20), resolve));
  // MADV_POPULATE_WRITE is Linux 5.14+: an older host kernel refuses it (EINVAL), which the loader tolerates.
  const [major, minor] = release().split('.').map(Number);
  if (major! > 5 || (major === 5 && minor! >= 14)) assert.equal(ok, true, 'MADV_POPULATE_WRITE on page-aligned anonymous memory');
  assert.ok(m.bytes.subarray(0, 4096).every((b) => b === 0xa5), 'written bytes kept');
  assert.equal(m.bytes[(8 << 20) - 1], 0x3c);
  assert.ok(m.bytes.subarray(4096, (8 << 20) - 1).every((b) => b === 0), 'the rest still zero');
  munmap(m);
});
