/**
 * The Linux x86 boot protocol setup header (Documentation/arch/x86/boot.rst): where it
 * sits in a bzImage and which fields a 64-bit boot loader reads. Offsets are from the
 * start of the image, which equal offsets into struct boot_params (the "zero page").
 */
import { BootError } from './boot-error.js';
import { ONE_MIB } from './memory-map.js';

export const SETUP_HEADER_START = 0x1f1;
export const HDR_SETUP_SECTS = 0x1f1;
export const HDR_SYSSIZE = 0x1f4;
export const HDR_BOOT_FLAG = 0x1fe;
/** One-byte jump displacement at 0x201: the header ends at 0x202 + this byte. */
export const HDR_JUMP_DISP = 0x201;
export const HDR_MAGIC = 0x202;
export const HDR_VERSION = 0x206;
export const HDR_TYPE_OF_LOADER = 0x210;
export const HDR_LOADFLAGS = 0x211;
export const HDR_CODE32_START = 0x214;
export const HDR_RAMDISK_IMAGE = 0x218;
export const HDR_RAMDISK_SIZE = 0x21c;
export const HDR_CMD_LINE_PTR = 0x228;
export const HDR_INITRD_ADDR_MAX = 0x22c;
export const HDR_KERNEL_ALIGNMENT = 0x230;
export const HDR_RELOCATABLE_KERNEL = 0x234;
export const HDR_XLOADFLAGS = 0x236;
export const HDR_CMDLINE_SIZE = 0x238;
export const HDR_SETUP_DATA = 0x250;
export const HDR_PREF_ADDRESS = 0x258;
export const HDR_INIT_SIZE = 0x260;
/** struct boot_params has the header up to 0x290, where edd_mbr_sig_buffer begins. */
export const SETUP_HEADER_LIMIT = 0x290;

/** "HdrS" read little-endian. */
export const LINUX_HDRS_MAGIC = 0x53726448;
export const LINUX_BOOT_FLAG = 0xaa55;
/** 2.06: cmdline_size exists; the oldest protocol tsvmm accepts. */
export const LINUX_MIN_PROTOCOL = 0x0206;
export const LOADFLAGS_LOADED_HIGH = 1 << 0;
/** xloadflags bit 0: a 64-bit entry point sits at load address + 0x200. */
export const XLF_KERNEL_64 = 1 << 0;
export const XLF_CAN_BE_LOADED_ABOVE_4G = 1 << 1;
/** Defaults the protocol gives fields that older versions lack. */
export const DEFAULT_INITRD_ADDR_MAX = 0x37ffffff;
export const DEFAULT_LOAD_ADDRESS = ONE_MIB;
export const SECTOR = 512;

export interface LinuxSetupHeader {
  version: number;
  /** Size of the real-mode setup code, boot sector included: (setup_sects + 1) * 512. */
  setupBytes: number;
  /** File offset and length of the protected-mode kernel. */
  kernelOffset: number;
  kernelBytes: number;
  loadflags: number;
  xloadflags: number;
  relocatable: boolean;
  kernelAlignment: number;
  prefAddress: number;
  /** Memory the kernel needs from its load address while it decompresses itself. */
  initSize: number;
  initrdAddrMax: number;
  /** Longest command line the kernel accepts, excluding the NUL. */
  cmdlineSize: number;
  /** End of the setup header in the image (exclusive), clamped to struct boot_params. */
  headerEnd: number;
}

export function protocolText(version: number): string {
  return `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`;
}

export function hasLinuxMagic(image: Uint8Array): boolean {
  return image.length >= HDR_MAGIC + 4 && new DataView(image.buffer, image.byteOffset, image.byteLength).getUint32(HDR_MAGIC, true) === LINUX_HDRS_MAGIC;
}

/** Reads and validates the setup header of a bzImage; BootError naming the file otherwise. */
export function parseLinuxHeader(image: Uint8Array, fileName: string): LinuxSetupHeader {
  const fail = (what: string): never => {
    throw new BootError(`${fileName}: ${what}`);
  };
  if (!hasLinuxMagic(image)) fail('not a Linux bzImage: no "HdrS" boot protocol signature at offset 0x202');
  if (image.length < SETUP_HEADER_LIMIT) fail(`truncated Linux image: ${image.length} bytes, shorter than the ${SETUP_HEADER_LIMIT}-byte setup area`);
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const version = dv.getUint16(HDR_VERSION, true);
  if (version < LINUX_MIN_PROTOCOL) {
    fail(`Linux boot protocol ${protocolText(version)} is too old: tsvmm needs a bzImage with boot protocol >= ${protocolText(LINUX_MIN_PROTOCOL)} (Linux 2.6.22 or newer)`);
  }
  const loadflags = image[HDR_LOADFLAGS]!;
  if (!(loadflags & LOADFLAGS_LOADED_HIGH)) fail('a zImage (loadflags LOADED_HIGH clear) loads below 1 MiB; tsvmm boots only bzImages');
  const xloadflags = version >= 0x020c ? dv.getUint16(HDR_XLOADFLAGS, true) : XLF_KERNEL_64;
  if (!(xloadflags & XLF_KERNEL_64)) {
    fail('this kernel has no 64-bit entry point (xloadflags XLF_KERNEL_64 clear, a 32-bit kernel?): tsvmm boots Linux through the 64-bit boot protocol only');
  }
  const setupSects = image[HDR_SETUP_SECTS]! === 0 ? 4 : image[HDR_SETUP_SECTS]!;
  const setupBytes = (setupSects + 1) * SECTOR;
  const syssize = dv.getUint32(HDR_SYSSIZE, true) * 16;
  if (image.length <= setupBytes || image.length < setupBytes + syssize) {
    fail(
      `truncated Linux image: ${image.length} bytes, but the setup code takes ${setupBytes} and the header says ` +
        `the protected-mode kernel has ${syssize} more (syssize)`,
    );
  }
  const relocatable = version >= 0x0205 && image[HDR_RELOCATABLE_KERNEL]! !== 0;
  const kernelAlignment = version >= 0x0205 ? dv.getUint32(HDR_KERNEL_ALIGNMENT, true) : 0;
  if (relocatable && (kernelAlignment === 0 || (kernelAlignment & (kernelAlignment - 1)) !== 0)) {
    fail(`kernel_alignment 0x${kernelAlignment.toString(16)} is not a power of two: corrupt header`);
  }
  const pref = version >= 0x020a ? dv.getBigUint64(HDR_PREF_ADDRESS, true) : BigInt(DEFAULT_LOAD_ADDRESS);
  if (pref >= 0x1_0000_0000n) fail(`pref_address 0x${pref.toString(16)} is above 4 GiB; tsvmm loads kernels below 4 GiB`);
  const kernelBytes = image.length - setupBytes;
  const headerEnd = Math.min(HDR_MAGIC + image[HDR_JUMP_DISP]!, SETUP_HEADER_LIMIT);
  return {
    version,
    setupBytes,
    kernelOffset: setupBytes,
    kernelBytes,
    loadflags,
    xloadflags,
    relocatable,
    kernelAlignment,
    prefAddress: Number(pref),
    initSize: version >= 0x020a ? dv.getUint32(HDR_INIT_SIZE, true) : 0,
    initrdAddrMax: version >= 0x0203 ? dv.getUint32(HDR_INITRD_ADDR_MAX, true) : DEFAULT_INITRD_ADDR_MAX,
    cmdlineSize: dv.getUint32(HDR_CMDLINE_SIZE, true),
    headerEnd,
  };
}
