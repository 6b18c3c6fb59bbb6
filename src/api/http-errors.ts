/**
 * The API's form of a controller error: an HTTP status. As Firecracker does, every refusal of a
 * request is a 400 Bad Request with a fault_message; only a bug in tsvmm is a 500.
 */
import type { ControllerErrorCode } from '../vmm/controller-types.js';

export const HTTP_STATUS_OF: Readonly<Record<ControllerErrorCode, number>> = {
  'invalid-argument': 400,
  'invalid-state': 400,
  'not-configured': 400,
  'not-supported': 400,
  'bad-image': 400,
  'no-backend': 400,
  busy: 400,
  'host-io': 400,
  internal: 500,
};
