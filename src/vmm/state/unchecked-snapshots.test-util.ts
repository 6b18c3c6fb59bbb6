/** Test-only: a snapshot loader for states moved between engines without a CPU model both give. */
import type { RunConfig } from '../config.js';
import type { SnapshotContext } from '../controller-types.js';
import { assembleVm } from '../vm-builder.js';
import { FileSnapshots, readStateFile } from './snapshot.js';
import { loadVmState, readMachine, readManifest, restoreConfig } from './vm-state.js';

/**
 * Loads a snapshot into the engine the controller is configured for without the feature-set check:
 * the engines' CPUID differ (on an AMD host even their vendors do), so this tests the state's
 * conversion alone; the checked path is FileSnapshots.
 */
export class UncheckedSnapshots extends FileSnapshots {
  override async load(ctx: SnapshotContext, req: { snapshotPath: string }): Promise<void> {
    const state = readStateFile(req.snapshotPath);
    const source = `snapshot ${req.snapshotPath}`;
    const manifest = readManifest(state.section('manifest'), source);
    const machine = readMachine(state.section('machine'), source);
    const config: RunConfig = { ...restoreConfig(ctx.config, machine, manifest), cpuModelManifest: undefined, pmu: 'off' };
    const a = await assembleVm(config, ctx.serialSink());
    try {
      loadVmState(a, state, source);
    } catch (e) {
      a.devices.destroy();
      a.vm.destroy();
      throw e;
    }
    ctx.adoptRestored({ ...a, boot: { registers: [], entry: 0, summary: 'restored' }, kernelPath: req.snapshotPath }, config);
  }
}
