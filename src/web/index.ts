/**
 * tsvmm in a browser (the package's `browser` export): the emulated PC in a Worker driven by BrowserVm,
 * or built on the calling thread with createEmuMachine. The Worker's module is `tsvmm/worker`.
 */
export { BrowserVm, type BrowserVmEvents, type BootOptions, type Image, type WorkerLike } from './browser-vm.js';
export { ByteRing } from './byte-ring.js';
export type { MachineStats, PmuCounts, SchedulerChoice, FromWorker, ToWorker } from './protocol.js';
export { MachineHost, stopText } from './machine-host.js';
export { createEmuMachine, type EmuMachine, type EmuMachineOptions } from '../vmm/emu-machine.js';
export { defaultHostScheduler, messageChannelScheduler, postTaskScheduler, timeoutScheduler, immediateScheduler, type HostScheduler } from '../cpu/emu/host-scheduler.js';
export { BufferSerialSink, type SerialSink } from '../devices/legacy/serial-sink.js';
