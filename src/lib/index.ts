/**
 * The tsvmm package: `import { createVm } from 'tsvmm'`. Node.js entry point (the package's
 * "exports" map sends "node" and "default" here; a browser entry can sit beside it).
 */
export { createVm, type CreateVmOptions, type VmChanges, type SnapshotOptions, type ApiHandle, type TsvmmVm } from './create-vm.js';
export { ControllerError as TsvmmError, type ControllerErrorCode as TsvmmErrorCode, type VmState, type VmStatsReport, type FeatureReport, type PmuCounts, type SnapshotKind } from '../vmm/controller-types.js';
export type { VmStop, QuitSource, BackendName, FeatureMode } from '../cpu/vm.js';
export { TSVMM_VERSION } from '../util/version.js';
