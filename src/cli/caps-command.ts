import { readFileSync } from 'node:fs';
import type { RunConfig } from '../vmm/config.js';
import { ConfigError } from '../vmm/config.js';
import { chooseBackend, createBackendVm } from '../vmm/backends.js';
import { describeHost, type HostFact } from '../vmm/host-report.js';
import type { FeatureStatus } from '../cpu/vm.js';
import { formatSize } from '../util/size.js';
import { EXIT } from '../util/errors.js';
import { hostManifest } from '../vmm/vm-manifest.js';
import { loadManifest, manifestToJson, ManifestError } from '../features/manifest.js';
import { baselineManifest, BaselineError } from '../features/baseline.js';

/**
 * `tsvmm caps`: the host's facilities, then each guest-visible feature of a VM of this config with its
 * mode. `--json`: the host's feature manifest (what it can give such a VM); `--baseline A.json B.json
 * ...`: the largest feature set every one of those hosts can give, for `tsvmm run --cpu-model`.
 */
export async function capsCommand(config: RunConfig, opts: { json: boolean; baseline?: readonly string[] }): Promise<number> {
  if (opts.baseline !== undefined) return baselineCommand(opts.baseline);
  if (opts.json) {
    process.stdout.write(manifestToJson(await hostManifest(config)));
    return EXIT.OK;
  }
  const host = await describeHost();
  const choice = await chooseBackend(config.accel, config.pmu);
  const vm = await createBackendVm(choice.backend, config);
  let features: readonly FeatureStatus[];
  try {
    features = vm.features();
  } finally {
    vm.destroy();
  }
  const out: string[] = ['Host'];
  for (const f of host) out.push(`  ${f.name.padEnd(22)} ${f.value}`);
  out.push('', `VM: backend ${choice.backend}, ${config.cpus} vCPU(s), ${formatSize(config.memBytes)} (${choice.reason})`);
  out.push(`  ${'feature'.padEnd(28)} ${'mode'.padEnd(12)} detail`);
  for (const f of features) out.push(`  ${f.name.padEnd(28)} ${formatFeatureMode(f).padEnd(12)} ${f.mode ? f.detail ?? '' : `unavailable: ${f.reason ?? 'not offered'}`}`);
  process.stdout.write(out.join('\n') + '\n');
  return EXIT.OK;
}

function baselineCommand(files: readonly string[]): number {
  if (files.length === 0) throw new ConfigError('tsvmm caps --baseline needs the manifests of the hosts (files written by tsvmm caps --json on each)');
  const inputs = files.map((name) => {
    let text: string;
    try {
      text = readFileSync(name, 'utf8');
    } catch (e) {
      throw new ConfigError(`--baseline ${name}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    try {
      return { name, manifest: loadManifest(text, name) };
    } catch (e) {
      if (e instanceof ManifestError) throw new ConfigError(e.message);
      throw e;
    }
  });
  try {
    process.stdout.write(manifestToJson(baselineManifest(inputs)));
  } catch (e) {
    if (e instanceof BaselineError) throw new ConfigError(`--baseline: ${e.message}`);
    throw e;
  }
  return EXIT.OK;
}

function formatFeatureMode(f: FeatureStatus): string {
  return f.mode ?? '-';
}

export type { HostFact };
