/** Boot loaders: what the VM builder calls to put a kernel into guest memory. */
export { BootError } from './boot-error.js';
export type { BootBlob, BootSetup } from './boot-setup.js';
export { detectKernelFormat, type KernelFormat } from './detect.js';
export { linuxRngSeed, loadLinux, type LinuxOptions } from './linux.js';
export { loadVmlinux, lastDecompressStats, prepareBzImageDecompression } from './linux-decompressed.js';
export { loadMultiboot, type MultibootOptions } from './multiboot.js';
