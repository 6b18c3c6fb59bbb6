/**
 * libc through koffi: the only FFI in tsvmm. Every call checks its result and turns
 * errno into a SysError whose `code` is the errno name and whose message says what
 * failed and what to do. Functions here are synchronous (koffi's async calls measured
 * 5-8x slower); vCPU threads call them from worker_threads.
 */
import koffi from 'koffi';
import { VmmError } from '../util/errors.js';

export class SysError extends VmmError {
  /** errno name, e.g. 'EACCES'. */
  readonly code: string;
  readonly errno: number;
  constructor(code: string, errno: number, message: string) {
    super('sys', message);
    this.code = code;
    this.errno = errno;
  }
}

const lib = koffi.load('libc.so.6');

const c = {
  open: lib.func('int open(const char *path, int flags)'),
  close: lib.func('int close(int fd)'),
  ioctlInt: lib.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']),
  ioctlPtr: lib.func('ioctl', 'int', ['int', 'unsigned long', 'void *']),
  mmap: lib.func('mmap', 'void *', ['void *', 'size_t', 'int', 'int', 'int', 'int64_t']),
  munmap: lib.func('int munmap(void *addr, size_t len)'),
  madvise: lib.func('int madvise(void *addr, size_t len, int advice)'),
  eventfd: lib.func('int eventfd(unsigned int initval, int flags)'),
  read: lib.func('read', 'intptr_t', ['int', 'void *', 'size_t']),
  write: lib.func('write', 'intptr_t', ['int', 'void *', 'size_t']),
  gettid: lib.func('int gettid()'),
  getpid: lib.func('int getpid()'),
  tgkill: lib.func('int tgkill(int tgid, int tid, int sig)'),
  sigaction: lib.func('sigaction', 'int', ['int', 'void *', 'void *']),
  pthreadSigmask: lib.func('pthread_sigmask', 'int', ['int', 'void *', 'void *']),
  timerCreate: lib.func('timer_create', 'int', ['int', 'void *', 'void *']),
  timerSettime: lib.func('timer_settime', 'int', ['void *', 'int', 'void *', 'void *']),
  timerDelete: lib.func('timer_delete', 'int', ['void *']),
  strerror: lib.func('const char *strerror(int errnum)'),
  poll: lib.func('int poll(void *fds, unsigned long nfds, int timeout)'),
  memfdCreate: lib.func('int memfd_create(const char *name, unsigned int flags)'),
  ftruncate: lib.func('int ftruncate(int fd, int64_t length)'),
};

const ERRNO_NAMES = new Map<number, string>(Object.entries(koffi.os.errno).map(([name, n]) => [n, name]));

export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/** What to do about the common failures, by errno name. */
const ADVICE: Readonly<Record<string, string>> = {
  EACCES: 'permission denied (run as root or add yourself to the kvm group)',
  EPERM: 'operation not permitted (run as root or add yourself to the kvm group)',
  ENOENT: 'no such file (is the kvm module loaded? try `modprobe kvm_intel` or `modprobe kvm_amd`)',
  ENOMEM: 'out of memory (try a smaller --mem)',
  EBUSY: 'device or resource busy',
  EINVAL: 'invalid argument (the host kernel rejected the request)',
  ENXIO: 'not supported by this host kernel',
  EEXIST: 'already exists',
  E2BIG: 'argument list too big for the host kernel',
  EFAULT: 'bad address passed to the kernel',
  EINTR: 'interrupted by a signal',
};

/** The C library's words for an errno, with its name: "No such file or directory (ENOENT)". */
function libcReason(errno: number): string {
  return `${String(c.strerror(errno))} (${errnoName(errno)})`;
}

/** A SysError for the current errno: "<what>: <reason>". */
export function sysError(what: string, errno = koffi.errno()): SysError {
  const code = errnoName(errno);
  return new SysError(code, errno, `${what}: ${ADVICE[code] ?? libcReason(errno)}`);
}

/** A SysError in the C library's words, for calls that are not about /dev/kvm (ADVICE's hints would mislead). */
export function plainSysError(what: string, errno = koffi.errno()): SysError {
  return new SysError(errnoName(errno), errno, `${what}: ${libcReason(errno)}`);
}

/** The current thread's errno (valid right after a failed call). */
export function lastErrno(): number {
  return koffi.errno();
}

export const O_RDWR = 0o2;
export const O_CLOEXEC = 0o2000000;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
export const MADV_DONTNEED = 4;
export const MADV_HUGEPAGE = 14;
export const MADV_POPULATE_WRITE = 23;
export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;
export const EINTR = 4;
export const EAGAIN = 11;

export function openFile(path: string, flags: number, what = `Cannot open ${path}`): number {
  const fd = c.open(path, flags) as number;
  if (fd < 0) throw sysError(what);
  return fd;
}

export function closeFd(fd: number): void {
  c.close(fd);
}

/** ioctl with an integer argument; returns the (non-negative) result or throws. */
export function ioctlInt(fd: number, request: number, arg: number, what: string): number {
  const r = c.ioctlInt(fd, request, arg) as number;
  if (r < 0) throw sysError(what);
  return r;
}

/** ioctl with a pointer to `buf`; the kernel reads and/or fills the bytes in place. */
export function ioctlPtr(fd: number, request: number, buf: Uint8Array, what: string): number {
  const r = c.ioctlPtr(fd, request, buf) as number;
  if (r < 0) throw sysError(what);
  return r;
}

/** Raw calls for hot paths and callers that handle errno themselves: -1 on failure, errno from lastErrno(). */
export function ioctlIntRaw(fd: number, request: number, arg: number): number {
  return c.ioctlInt(fd, request, arg) as number;
}
export function ioctlPtrRaw(fd: number, request: number, buf: Uint8Array): number {
  return c.ioctlPtr(fd, request, buf) as number;
}

/** A mapping of native memory: its address (for the kernel) and a zero-copy view (for TypeScript). */
export interface NativeMapping {
  readonly address: bigint;
  readonly bytes: Uint8Array;
  readonly length: number;
  /** koffi's pointer object, needed to unmap. */
  readonly pointer: unknown;
}

const MAP_FAILED = (1n << 64n) - 1n;

function mapOrThrow(p: unknown, len: number, what: string): NativeMapping {
  const address = p === null ? 0n : koffi.address(p);
  if (p === null || address === MAP_FAILED) throw sysError(what);
  return { address, bytes: new Uint8Array(koffi.view(p, len)), length: len, pointer: p };
}

/** Anonymous private memory (guest RAM): zero-filled, reserved lazily. */
export function mmapAnonymous(len: number, what = `Cannot allocate ${len} bytes of guest memory`): NativeMapping {
  const p = c.mmap(null, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) as unknown;
  return mapOrThrow(p, len, what);
}

/** A shared mapping of a file descriptor (the kvm_run page of a vCPU). */
export function mmapFd(fd: number, len: number, what: string): NativeMapping {
  const p = c.mmap(null, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) as unknown;
  return mapOrThrow(p, len, what);
}

/**
 * Guest RAM another process can map: a memfd of `len` bytes mapped shared here. The fd is what
 * vhost-user's SET_MEM_TABLE passes (SCM_RIGHTS); the caller keeps it open while a peer may map it.
 */
export function memfdMapping(name: string, len: number): NativeMapping & { readonly fd: number } {
  const fd = c.memfdCreate(name, 1 /* MFD_CLOEXEC */) as number;
  if (fd < 0) throw sysError(`Cannot create a memfd for ${name}`);
  if ((c.ftruncate(fd, len) as number) < 0) {
    const e = sysError(`Cannot size the memfd for ${name} to ${len} bytes`);
    c.close(fd);
    throw e;
  }
  const p = c.mmap(null, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0) as unknown;
  try {
    return { ...mapOrThrow(p, len, `Cannot map the memfd for ${name}`), fd };
  } catch (e) {
    c.close(fd);
    throw e;
  }
}

/** Maps `len` bytes of a shared fd at `offset` (page-aligned), e.g. a peer's guest RAM. */
export function mmapShared(fd: number, len: number, offset: number, what: string): NativeMapping {
  const p = c.mmap(null, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset) as unknown;
  return mapOrThrow(p, len, what);
}

export function munmap(m: NativeMapping): void {
  c.munmap(m.pointer, m.length);
}

/** Drops the pages of a mapping (they read as zero afterwards). */
export function discardPages(m: NativeMapping): void {
  c.madvise(m.pointer, m.length, MADV_DONTNEED);
}

/**
 * Asks for `bytes` (page-aligned, as guest RAM is) to be backed by 2 MiB pages where the kernel can (MADV_HUGEPAGE;
 * transparent huge pages are often enabled for madvised memory only). A fault of a fresh 4 KiB page costs ~13 us on
 * the virtualised 2-core host this was measured on, and the Debian guest touches ~94 MB of its RAM on the way to its
 * prompt: ~8 000 fewer faults there. Advisory: false when the kernel refused (no THP, a range not page-aligned).
 */
export function adviseHugePages(bytes: Uint8Array): boolean {
  return bytes.length > 0 && c.madvise(bytes, bytes.length, MADV_HUGEPAGE) === 0;
}

/**
 * Makes `bytes` (page-aligned, as guest RAM is) resident on one of libuv's pool threads, in 2 MiB pages where
 * the kernel can: MADV_HUGEPAGE, then MADV_POPULATE_WRITE (Linux 5.14+). For memory about to be written whole
 * (a kernel decompressed into guest RAM): the first write to a fresh page costs a page fault, several
 * microseconds on a virtualised host (64 MB took 180 ms of faults on the 2-core VM this was measured on), and
 * here another thread pays it while this one works. The contents are untouched, so the thread writing the
 * bytes may run ahead of it. Advisory: a kernel that refuses (EINVAL: older, or a range not page-aligned)
 * leaves the bytes to be faulted in as they are written. `done` is called (on this thread) when it finished.
 */
export function prefaultInBackground(bytes: Uint8Array, done?: (ok: boolean) => void): void {
  if (bytes.length === 0) {
    done?.(true);
    return;
  }
  c.madvise(bytes, bytes.length, MADV_HUGEPAGE);
  (c.madvise as unknown as { async(...args: unknown[]): void }).async(bytes, bytes.length, MADV_POPULATE_WRITE, (err: unknown, r: unknown) => done?.(err == null && r === 0));
}

export function eventfd(initval = 0, flags = EFD_CLOEXEC): number {
  const fd = c.eventfd(initval, flags) as number;
  if (fd < 0) throw sysError('Cannot create an eventfd');
  return fd;
}

/** read(2) that reports "nothing now" instead of throwing: the byte count, or -1 on EAGAIN. */
export function readFdNonBlocking(fd: number, buf: Uint8Array): number {
  const n = Number(c.read(fd, buf, buf.length));
  if (n >= 0) return n;
  const e = koffi.errno();
  if (e === EAGAIN || e === EINTR) return -1;
  throw sysError(`read from fd ${fd} failed`, e);
}

export const O_NONBLOCK = 0o4000;
const TUNSETIFF = 0x400454ca;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;

/**
 * Opens TAP interface `name` (created if missing, which needs CAP_NET_ADMIN; an existing persistent
 * one owned by the user does not) through /dev/net/tun: Ethernet frames without packet information,
 * non-blocking. Returns the fd and the interface's name.
 */
export function openTap(name: string): { fd: number; name: string } {
  const enc = new TextEncoder().encode(name);
  if (enc.length === 0 || enc.length > 15) throw new RangeError(`TAP interface name "${name}" must be 1-15 bytes`);
  // ADVICE's hints are about /dev/kvm; a TAP fails for reasons of its own, said here.
  const fd = c.open('/dev/net/tun', O_RDWR | O_CLOEXEC | O_NONBLOCK) as number;
  if (fd < 0) {
    const errno = koffi.errno();
    const code = errnoName(errno);
    const why = code === 'ENOENT' ? 'no such device (the tun module is not loaded)' : code === 'EACCES' || code === 'EPERM' ? 'permission denied (TAP needs root, or CAP_NET_ADMIN and access to /dev/net/tun)' : libcReason(errno);
    throw new SysError(code, errno, `Cannot open /dev/net/tun: ${why}`);
  }
  // struct ifreq: ifr_name[16], then ifr_flags (short); 40 bytes.
  const ifr = new Uint8Array(40);
  ifr.set(enc, 0);
  new DataView(ifr.buffer).setInt16(16, IFF_TAP | IFF_NO_PI, true);
  if ((c.ioctlPtr(fd, TUNSETIFF, ifr) as number) < 0) {
    const errno = koffi.errno();
    const code = errnoName(errno);
    c.close(fd);
    const why =
      code === 'EPERM'
        ? `not permitted (creating it needs CAP_NET_ADMIN; or make it for this user first: ip tuntap add dev ${name} mode tap user USER)`
        : code === 'EBUSY'
          ? 'it is in use (another process has it open)'
          : libcReason(errno);
    throw new SysError(code, errno, `Cannot attach to TAP interface ${name}: ${why}`);
  }
  const end = ifr.indexOf(0);
  return { fd, name: new TextDecoder().decode(ifr.subarray(0, end < 0 || end > 16 ? 16 : end)) };
}

export function readFd(fd: number, buf: Uint8Array): number {
  const n = Number(c.read(fd, buf, buf.length));
  if (n < 0) throw sysError(`read from fd ${fd} failed`);
  return n;
}

export function writeFd(fd: number, buf: Uint8Array): number {
  const n = Number(c.write(fd, buf, buf.length));
  if (n < 0) throw sysError(`write to fd ${fd} failed`);
  return n;
}

/** poll(2) events. */
export const POLLIN = 0x1;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;

/**
 * poll(2) over `fds` (struct pollfd: int fd, short events, short revents; 8 bytes each, filled in
 * place). Returns the number of ready fds, 0 on timeout, -1 on EINTR; throws on other errors.
 */
export function pollFds(fds: Uint8Array, count: number, timeoutMs: number): number {
  const r = c.poll(fds, count, timeoutMs) as number;
  if (r < 0) {
    const e = koffi.errno();
    if (e === EINTR) return -1;
    throw sysError('poll failed', e);
  }
  return r;
}

/** Reads an eventfd's counter (8 bytes) without blocking; 0 when it was not signalled (EAGAIN) or closed. */
export function drainEventFd(fd: number, buf: Uint8Array = new Uint8Array(8)): number {
  const n = Number(c.read(fd, buf, 8));
  if (n !== 8) return 0;
  return Number(new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true));
}

/** Adds 1 to an eventfd's counter (what a doorbell or irqfd write is). */
export function signalEventFd(fd: number): void {
  const b = ONE_U64;
  if (Number(c.write(fd, b, 8)) !== 8 && koffi.errno() !== EAGAIN) throw sysError(`write to eventfd ${fd} failed`);
}
const ONE_U64 = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);

export function gettid(): number {
  return c.gettid() as number;
}
export function getpid(): number {
  return c.getpid() as number;
}

/** Sends `sig` to one thread of this process; false if the thread is gone. */
export function signalThread(tid: number, sig: number): boolean {
  return (c.tgkill(c.getpid(), tid, sig) as number) === 0;
}

// ---------------------------------------------------------------- vCPU kick signal
/**
 * The signal that kicks a vCPU thread out of KVM_RUN (glibc's SIGRTMIN is 34; 34+6 is
 * unused by Node and libuv). Its handler must be native code that does nothing: we
 * point it at libc's getpid, which ignores its arguments and is async-signal-safe, so
 * no JavaScript ever runs in signal context. SA_RESTART keeps the signal invisible to
 * every other syscall; KVM_RUN still returns EINTR because KVM does not restart it.
 */
export const KICK_SIGNAL = 40;
const SA_RESTART = 0x1000_0000;
let kickInstalled = false;

const SIG_BLOCK = 0;
const SIG_SETMASK = 2;

/**
 * Runs `fn` with the kick signal sent to this thread and held pending (blocked here): a KVM_RUN whose
 * vCPU signal mask (KVM_SET_SIGNAL_MASK) lets it through returns EINTR before guest code runs. The
 * signal is delivered (to the no-op handler) when the old mask comes back.
 */
export function withKickPending<T>(fn: () => T): T {
  const set = new Uint8Array(128); // glibc sigset_t
  set[(KICK_SIGNAL - 1) >> 3]! |= 1 << ((KICK_SIGNAL - 1) & 7);
  const old = new Uint8Array(128);
  if ((c.pthreadSigmask(SIG_BLOCK, set, old) as number) !== 0) throw sysError('pthread_sigmask failed');
  try {
    c.tgkill(c.getpid(), c.gettid(), KICK_SIGNAL);
    return fn();
  } finally {
    c.pthreadSigmask(SIG_SETMASK, old, null);
  }
}

export function installKickSignal(): void {
  if (kickInstalled) return;
  const handler = koffi.address(lib.symbol('getpid', 'char'));
  // glibc struct sigaction (x86-64): sa_handler @0, sa_mask[128] @8, sa_flags @136, sa_restorer @144.
  const sa = new Uint8Array(152);
  const v = new DataView(sa.buffer);
  v.setBigUint64(0, handler, true);
  v.setInt32(136, SA_RESTART, true);
  if ((c.sigaction(KICK_SIGNAL, sa, null) as number) < 0) throw sysError(`Cannot install the vCPU kick signal ${KICK_SIGNAL}`);
  kickInstalled = true;
}

const CLOCK_MONOTONIC = 1;
const SIGEV_THREAD_ID = 4;

/** A periodic timer that sends KICK_SIGNAL to one thread (so a blocked KVM_RUN returns now and then). */
export interface ThreadTimer {
  stop(): void;
}

export function startThreadTimer(tid: number, periodMs: number): ThreadTimer {
  installKickSignal();
  // struct sigevent: sigev_value @0, sigev_signo @8, sigev_notify @12, _tid @16; 64 bytes.
  const sev = new Uint8Array(64);
  const sv = new DataView(sev.buffer);
  sv.setInt32(8, KICK_SIGNAL, true);
  sv.setInt32(12, SIGEV_THREAD_ID, true);
  sv.setInt32(16, tid, true);
  const idBuf = new Uint8Array(8);
  if ((c.timerCreate(CLOCK_MONOTONIC, sev, idBuf) as number) < 0) throw sysError('Cannot create the vCPU kick timer');
  const timerId = koffi.decode(idBuf, 'void *') as unknown;
  // struct itimerspec: it_interval {sec, nsec}, it_value {sec, nsec}.
  const its = new Uint8Array(32);
  const iv = new DataView(its.buffer);
  const sec = BigInt(Math.floor(periodMs / 1000));
  const nsec = BigInt(Math.round((periodMs % 1000) * 1e6));
  iv.setBigInt64(0, sec, true);
  iv.setBigInt64(8, nsec, true);
  iv.setBigInt64(16, sec, true);
  iv.setBigInt64(24, nsec, true);
  if ((c.timerSettime(timerId, 0, its, null) as number) < 0) throw sysError('Cannot arm the vCPU kick timer');
  let live = true;
  return {
    stop() {
      if (live) c.timerDelete(timerId);
      live = false;
    },
  };
}
