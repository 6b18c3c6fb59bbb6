import { field, type FieldsOf, type Persist, type PersistSchema } from '../../util/persist.js';
import type { BusDevice } from '../../cpu/bus.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { HIGH_RAM_START, pcRamLayout } from '../../memory/guest-memory.js';
import { VmmError } from '../../util/errors.js';

/*
 * QEMU firmware configuration device (docs/specs/fw_cfg.rst in QEMU), x86 port layout:
 * selector at 0x510 (16-bit, little-endian), data at 0x511 (8-bit, auto-incrementing
 * offset, reads past the end return 0, writes ignored as in QEMU >= 2.4; like QEMU the
 * pair decodes by width: 16-bit writes select, byte reads read data), and the DMA
 * address register at 0x514-0x51b (big-endian; a write to the low half at 0x518 starts
 * the transfer; reads return the signature "QEMU CFG"). DMA exists only when the
 * device is given guest memory; FW_CFG_ID reports it in bit 1.
 *
 * "Max RAM" (issue 2): QEMU has no fixed key for it. Its equivalent is the file
 * "etc/reserved-memory-end" (u64 LE: end of the address space reserved for RAM and
 * hot-pluggable memory, rounded up to 1 GiB), which QEMU adds when maxmem > mem; we
 * add it under the same condition (option `maxMemBytes`). FW_CFG_RAM_SIZE is the RAM
 * size and "etc/e820" the RAM map, as QEMU provides them.
 */

export const FW_CFG_SELECTOR_PORT = 0x510;
export const FW_CFG_DATA_PORT = 0x511;
/** Selector + data ports, registered as one range (the data port always follows the selector). */
export const FW_CFG_IO_LEN = 2;
export const FW_CFG_DMA_PORT = 0x514;
export const FW_CFG_DMA_LEN = 8;

// Selector keys (Linux include/uapi/linux/qemu_fw_cfg.h names).
export const FW_CFG_SIGNATURE = 0x00;
export const FW_CFG_ID = 0x01;
export const FW_CFG_UUID = 0x02;
export const FW_CFG_RAM_SIZE = 0x03;
export const FW_CFG_NOGRAPHIC = 0x04;
export const FW_CFG_NB_CPUS = 0x05;
export const FW_CFG_MACHINE_ID = 0x06;
export const FW_CFG_KERNEL_ADDR = 0x07;
export const FW_CFG_KERNEL_SIZE = 0x08;
/** Guest-physical address of the command line (older alias of FW_CFG_CMDLINE_ADDR). */
export const FW_CFG_KERNEL_CMDLINE = 0x09;
export const FW_CFG_INITRD_ADDR = 0x0a;
export const FW_CFG_INITRD_SIZE = 0x0b;
export const FW_CFG_BOOT_DEVICE = 0x0c;
export const FW_CFG_NUMA = 0x0d;
export const FW_CFG_BOOT_MENU = 0x0e;
export const FW_CFG_MAX_CPUS = 0x0f;
export const FW_CFG_KERNEL_ENTRY = 0x10;
export const FW_CFG_KERNEL_DATA = 0x11;
export const FW_CFG_INITRD_DATA = 0x12;
export const FW_CFG_CMDLINE_ADDR = 0x13;
/** Command line length in bytes including its NUL (u32 LE). */
export const FW_CFG_CMDLINE_SIZE = 0x14;
/** Command line bytes, NUL-terminated. */
export const FW_CFG_CMDLINE_DATA = 0x15;
export const FW_CFG_SETUP_ADDR = 0x16;
export const FW_CFG_SETUP_SIZE = 0x17;
export const FW_CFG_SETUP_DATA = 0x18;
export const FW_CFG_FILE_DIR = 0x19;
export const FW_CFG_FILE_FIRST = 0x20;
export const FW_CFG_WRITE_CHANNEL = 0x4000;
export const FW_CFG_ARCH_LOCAL = 0x8000;
export const FW_CFG_ENTRY_MASK = 0x3fff;
export const FW_CFG_INVALID = 0xffff;
/** Longest file name including the NUL. */
export const FW_CFG_MAX_FILE_PATH = 56;
/** One FWCfgFile directory entry: be32 size, be16 select, be16 reserved, char name[56]. */
export const FW_CFG_FILE_ENTRY_SIZE = 64;

// FW_CFG_ID bits.
export const FW_CFG_VERSION = 0x01;
export const FW_CFG_VERSION_DMA = 0x02;

// FWCfgDmaAccess.control bits (the struct is be32 control, be32 length, be64 address).
export const FW_CFG_DMA_CTL_ERROR = 0x01;
export const FW_CFG_DMA_CTL_READ = 0x02;
export const FW_CFG_DMA_CTL_SKIP = 0x04;
export const FW_CFG_DMA_CTL_SELECT = 0x08;
export const FW_CFG_DMA_CTL_WRITE = 0x10;
/** "QEMU CFG" as the big-endian bytes the DMA register reads back. */
export const FW_CFG_DMA_SIGNATURE = 'QEMU CFG';

export const E820_RAM = 1;
export const E820_RESERVED = 2;

const GIB = 1024 * 1024 * 1024;
/** Longest transfer one DMA request may ask for; a larger `length` is an error, not a host allocation. */
const DMA_MAX_CHUNK = 1 << 20;

export class FwCfgError extends VmmError {
  constructor(message: string) {
    super('fw-cfg', message);
  }
}

export interface FwCfgOptions {
  readonly memBytes: number;
  readonly cpus: number;
  /** Default: `cpus`. */
  readonly maxCpus?: number;
  /** Kernel command line (FW_CFG_CMDLINE_SIZE / FW_CFG_CMDLINE_DATA); default empty. */
  readonly cmdline?: string;
  /** Where the loader put the command line, for FW_CFG_CMDLINE_ADDR / FW_CFG_KERNEL_CMDLINE. */
  readonly cmdlineAddr?: number;
  /** Largest RAM size the VM may grow to; above `memBytes` it adds "etc/reserved-memory-end". */
  readonly maxMemBytes?: number;
  /** 16-byte VM UUID (FW_CFG_UUID); default all zeros. */
  readonly uuid?: Uint8Array;
  /** Guest memory for the DMA interface; without it there is no DMA (FW_CFG_ID bit 1 clear). */
  readonly memory?: Pick<GuestMemory, 'read' | 'write'>;
}

function u16le(v: number): Uint8Array {
  return Uint8Array.of(v & 0xff, (v >>> 8) & 0xff);
}
function u32le(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}
function u64le(v: number): Uint8Array {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, v % 0x1_0000_0000, true);
  dv.setUint32(4, Math.floor(v / 0x1_0000_0000), true);
  return b;
}
function ascii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) throw new FwCfgError(`fw_cfg name "${s}" is not plain ASCII (use ASCII names such as "opt/org.example/item")`);
    b[i] = c;
  }
  return b;
}
/** UTF-8 without TextEncoder typing concerns: the command line may hold any text. */
function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

const FW_CFG_FIELDS = {
  selected: field.u16(),
  offset: field.int(0, 0xffff_ffff),
  dmaAddress: field.array(field.u8(), 8),
} as const;

/** The persisted fields: the guest-visible cursor; the items themselves are configuration the VM builder rebuilds. */
export const FW_CFG_PERSIST: PersistSchema<typeof FW_CFG_FIELDS> = { kind: 'fw-cfg', version: 1, fields: FW_CFG_FIELDS };

export type FwCfgState = FieldsOf<typeof FW_CFG_FIELDS>;

interface FileEntry {
  readonly name: string;
  readonly key: number;
}

export class FwCfg implements Persist<typeof FW_CFG_FIELDS> {
  readonly persistSchema = FW_CFG_PERSIST;
  /** key (with FW_CFG_ARCH_LOCAL, without the write channel bit) → contents */
  private readonly entries = new Map<number, Uint8Array>();
  private readonly files: FileEntry[] = [];
  private nextFileKey = FW_CFG_FILE_FIRST;
  private selected = FW_CFG_INVALID;
  private offset = 0;
  private readonly memory: Pick<GuestMemory, 'read' | 'write'> | undefined;
  private readonly dmaAddr = new Uint8Array(8);
  /** DMA requests served and failed, for diagnostics. */
  dmaRequests = 0;
  dmaErrors = 0;

  /** Register at FW_CFG_SELECTOR_PORT with length FW_CFG_IO_LEN. */
  readonly ioPort: BusDevice = {
    read: (o, d) => this.ioRead(o, d),
    write: (o, d) => this.ioWrite(o, d),
  };
  /** Register at FW_CFG_DMA_PORT with length FW_CFG_DMA_LEN (only when DMA is enabled). */
  readonly dmaPort: BusDevice = {
    read: (o, d) => this.dmaRead(o, d),
    write: (o, d) => this.dmaWrite(o, d),
  };

  constructor(options: FwCfgOptions) {
    const { memBytes, cpus } = options;
    if (!Number.isSafeInteger(memBytes) || memBytes <= 0) throw new RangeError(`fw_cfg RAM size ${memBytes} is not a positive byte count`);
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > 0xffff) throw new RangeError(`fw_cfg CPU count ${cpus} is out of range 1-65535`);
    const maxCpus = options.maxCpus ?? cpus;
    if (!Number.isInteger(maxCpus) || maxCpus < cpus || maxCpus > 0xffff) throw new RangeError(`fw_cfg max CPU count ${maxCpus} must be between ${cpus} and 65535`);
    this.memory = options.memory;

    this.setEntry(FW_CFG_SIGNATURE, ascii('QEMU'));
    this.setEntry(FW_CFG_ID, u32le(FW_CFG_VERSION | (this.memory ? FW_CFG_VERSION_DMA : 0)));
    const uuid = options.uuid ?? new Uint8Array(16);
    if (uuid.length !== 16) throw new RangeError(`fw_cfg UUID must be 16 bytes, got ${uuid.length}`);
    this.setEntry(FW_CFG_UUID, uuid.slice());
    this.setEntry(FW_CFG_RAM_SIZE, u64le(memBytes));
    this.setEntry(FW_CFG_NOGRAPHIC, u16le(1)); // serial console only
    this.setEntry(FW_CFG_NB_CPUS, u16le(cpus));
    this.setEntry(FW_CFG_MAX_CPUS, u16le(maxCpus));
    this.setEntry(FW_CFG_BOOT_MENU, u16le(0));
    this.setCmdline(options.cmdline ?? '', options.cmdlineAddr);

    // The RAM map, as QEMU's etc/e820: packed { le64 address, le64 length, le32 type }.
    const layout = pcRamLayout(memBytes);
    const e820 = new Uint8Array(20 * layout.length);
    const dv = new DataView(e820.buffer);
    layout.forEach((r, i) => {
      e820.set(u64le(r.gpa), i * 20);
      e820.set(u64le(r.size), i * 20 + 8);
      dv.setUint32(i * 20 + 16, E820_RAM, true);
    });
    this.addFile('etc/e820', e820);

    const maxMem = options.maxMemBytes ?? memBytes;
    if (!Number.isSafeInteger(maxMem) || maxMem < memBytes) throw new RangeError(`fw_cfg max RAM ${maxMem} must be at least the RAM size ${memBytes}`);
    if (maxMem > memBytes) {
      const high = layout[1];
      const ramEnd = high ? high.gpa + high.size : HIGH_RAM_START;
      const hotplugBase = Math.ceil(ramEnd / GIB) * GIB;
      this.addFile('etc/reserved-memory-end', u64le(Math.ceil((hotplugBase + (maxMem - memBytes)) / GIB) * GIB));
    }
    this.rebuildDirectory();
  }

  /** Sets the command line entries (size includes the NUL) and, when known, its guest address. */
  setCmdline(cmdline: string, addr?: number): void {
    const text = utf8(cmdline);
    const data = new Uint8Array(text.length + 1);
    data.set(text);
    this.setEntry(FW_CFG_CMDLINE_SIZE, u32le(data.length));
    this.setEntry(FW_CFG_CMDLINE_DATA, data);
    if (addr !== undefined) {
      this.setEntry(FW_CFG_CMDLINE_ADDR, u32le(addr));
      this.setEntry(FW_CFG_KERNEL_CMDLINE, u32le(addr));
    }
  }

  /** Sets a fixed-key item (e.g. FW_CFG_KERNEL_SIZE for fw_cfg kernel loading, or an arch-local 0x8000+ key). */
  setEntry(key: number, data: Uint8Array): void {
    const k = key & (FW_CFG_ARCH_LOCAL | FW_CFG_ENTRY_MASK);
    if (k !== key) throw new RangeError(`fw_cfg key 0x${key.toString(16)} has the write-channel bit set; use the plain key`);
    this.entries.set(k, data);
  }

  /**
   * Adds a named file (listed in FW_CFG_FILE_DIR) and returns its selector key.
   * Names are ASCII, at most 55 characters, unique; "opt/" names are for users.
   */
  addFile(name: string, data: Uint8Array): number {
    const bytes = ascii(name);
    if (bytes.length === 0 || bytes.length >= FW_CFG_MAX_FILE_PATH) {
      throw new FwCfgError(`fw_cfg file name "${name}" must be 1-${FW_CFG_MAX_FILE_PATH - 1} characters`);
    }
    if (this.files.some((f) => f.name === name)) throw new FwCfgError(`fw_cfg file "${name}" already exists (each name may be added once)`);
    if (this.nextFileKey > FW_CFG_ENTRY_MASK) throw new FwCfgError(`fw_cfg has no free file slots for "${name}"`);
    const key = this.nextFileKey++;
    this.entries.set(key, data.slice());
    this.files.push({ name, key });
    this.rebuildDirectory();
    return key;
  }

  /** The item a key selects (for tests and `info`). */
  entry(key: number): Uint8Array | undefined {
    return this.entries.get(key & (FW_CFG_ARCH_LOCAL | FW_CFG_ENTRY_MASK));
  }

  get dmaEnabled(): boolean {
    return this.memory !== undefined;
  }

  private rebuildDirectory(): void {
    // Firmware (SeaBIOS, OVMF) expects the directory sorted by name.
    const sorted = [...this.files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const dir = new Uint8Array(4 + FW_CFG_FILE_ENTRY_SIZE * sorted.length);
    const dv = new DataView(dir.buffer);
    dv.setUint32(0, sorted.length, false);
    sorted.forEach((f, i) => {
      const at = 4 + i * FW_CFG_FILE_ENTRY_SIZE;
      dv.setUint32(at, this.entries.get(f.key)!.length, false);
      dv.setUint16(at + 4, f.key, false);
      dir.set(ascii(f.name), at + 8);
    });
    this.entries.set(FW_CFG_FILE_DIR, dir);
  }

  // ---- legacy I/O interface --------------------------------------------------------------

  select(key: number): void {
    // The write-channel bit only matters for data-port writes, which are ignored.
    this.selected = key & (FW_CFG_ARCH_LOCAL | FW_CFG_ENTRY_MASK);
    this.offset = 0;
  }

  /** Next data byte of the selected item (0 past its end or for an unknown key). */
  readDataByte(): number {
    const e = this.entries.get(this.selected);
    if (!e || this.offset >= e.length) return 0;
    return e[this.offset++]!;
  }

  // QEMU's x86 port pair decodes by access size, not by port: a 16-bit write to either
  // port selects, byte writes are (ignored) data writes, and byte reads return data.
  private ioRead(_offset: number, data: Uint8Array): void {
    // An N-byte read returns the next N bytes in address order.
    for (let i = 0; i < data.length; i++) data[i] = this.readDataByte();
  }

  private ioWrite(_offset: number, data: Uint8Array): void {
    if (data.length === 2) this.select(data[0]! | (data[1]! << 8));
    // Data writes are ignored (QEMU >= 2.4); other widths are not decoded.
  }

  // ---- DMA interface ---------------------------------------------------------------------

  private dmaRead(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      data[i] = this.memory && at < 8 ? FW_CFG_DMA_SIGNATURE.charCodeAt(at) : 0xff;
    }
  }

  private dmaWrite(offset: number, data: Uint8Array): void {
    if (!this.memory) return;
    // The register is big-endian: guests write bswapped 32-bit halves (or one 64-bit value).
    if (!((data.length === 4 && (offset === 0 || offset === 4)) || (data.length === 8 && offset === 0))) return;
    this.dmaAddr.set(data, offset);
    if (offset + data.length === 8) {
      const dv = new DataView(this.dmaAddr.buffer);
      const addr = dv.getUint32(0, false) * 0x1_0000_0000 + dv.getUint32(4, false);
      this.dmaAddr.fill(0); // reads as 0 after an operation
      this.runDma(addr);
    }
  }

  /** Performs the FWCfgDmaAccess at `addr` and writes its control word back (0 = done, 1 = error). */
  private runDma(addr: number): void {
    const mem = this.memory!;
    this.dmaRequests++;
    let header: Uint8Array;
    try {
      header = mem.read(addr, 16);
    } catch {
      this.dmaErrors++;
      return; // no descriptor to report into
    }
    const dv = new DataView(header.buffer, header.byteOffset, 16);
    const control = dv.getUint32(0, false);
    const length = dv.getUint32(4, false);
    const target = dv.getUint32(8, false) * 0x1_0000_0000 + dv.getUint32(12, false);
    let ok = true;
    if (control & FW_CFG_DMA_CTL_SELECT) this.select(control >>> 16);
    const e = this.entries.get(this.selected);
    if (control & FW_CFG_DMA_CTL_READ) {
      if (length > DMA_MAX_CHUNK) ok = false;
      else {
        const out = new Uint8Array(length); // bytes past the item's end read as 0
        if (e && this.offset < e.length) out.set(e.subarray(this.offset, Math.min(e.length, this.offset + length)));
        try {
          if (length > 0) mem.write(target, out);
          this.offset += length;
        } catch {
          ok = false;
        }
      }
    } else if (control & FW_CFG_DMA_CTL_WRITE) {
      ok = false; // every item here is read-only to the guest
    } else if (control & FW_CFG_DMA_CTL_SKIP) {
      this.offset += length;
    }
    if (!ok) this.dmaErrors++;
    try {
      mem.write(addr, Uint8Array.of(0, 0, 0, ok ? 0 : FW_CFG_DMA_CTL_ERROR));
    } catch {
      this.dmaErrors++;
    }
  }

  // ---- state -------------------------------------------------------------------------

  saveState(): FwCfgState {
    return { selected: this.selected, offset: this.offset, dmaAddress: [...this.dmaAddr] };
  }

  restoreState(s: FwCfgState): void {
    this.selected = s.selected & 0xffff;
    this.offset = Math.max(0, Math.floor(s.offset));
    this.dmaAddr.set(s.dmaAddress.slice(0, 8));
  }
}
