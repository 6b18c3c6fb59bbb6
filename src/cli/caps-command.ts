import type { RunConfig } from '../vmm/config.js';
import { chooseBackend, createBackendVm } from '../vmm/backends.js';
import { describeHost, type HostFact } from '../vmm/host-report.js';
import type { FeatureStatus } from '../cpu/vm.js';
import { formatSize } from '../util/size.js';

/** `tsvmm caps`: the host's facilities, then each guest-visible feature of a VM of this config with its mode. */
export async function capsCommand(config: RunConfig, opts: { json: boolean }): Promise<number> {
  const host = await describeHost();
  const choice = await chooseBackend(config.accel, config.pmu);
  const vm = await createBackendVm(choice.backend, config);
  let features: readonly FeatureStatus[];
  try {
    features = vm.features();
  } finally {
    vm.destroy();
  }
  if (opts.json) {
    process.stdout.write(JSON.stringify({ host, vm: { backend: choice.backend, reason: choice.reason, cpus: config.cpus, memBytes: config.memBytes, features } }, null, 2) + '\n');
    return 0;
  }
  const out: string[] = ['Host'];
  for (const f of host) out.push(`  ${f.name.padEnd(22)} ${f.value}`);
  out.push('', `VM: backend ${choice.backend}, ${config.cpus} vCPU(s), ${formatSize(config.memBytes)} (${choice.reason})`);
  out.push(`  ${'feature'.padEnd(28)} ${'mode'.padEnd(12)} detail`);
  for (const f of features) out.push(`  ${f.name.padEnd(28)} ${formatFeatureMode(f).padEnd(12)} ${f.mode ? f.detail ?? '' : `unavailable: ${f.reason ?? 'not offered'}`}`);
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}

function formatFeatureMode(f: FeatureStatus): string {
  return f.mode ?? '-';
}

export type { HostFact };
