/**
 * The Worker entry: `new Worker(url of this module, { type: 'module' })`, then drive it with BrowserVm.
 * The machine runs here, off the page's thread, so the page stays responsive while the guest runs.
 */
import { MachineHost } from './machine-host.js';
import type { FromWorker, ToWorker } from './protocol.js';

interface WorkerScope {
  onmessage: ((e: { data: ToWorker }) => void) | null;
  postMessage(m: FromWorker, transfer: ArrayBuffer[]): void;
}
const scope = globalThis as unknown as WorkerScope;
const host = new MachineHost((m, transfer) => scope.postMessage(m, transfer ?? []));
scope.onmessage = (e) => host.handle(e.data);
