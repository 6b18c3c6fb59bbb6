/** The CLI's form of a controller error: its exit status (README, "Exit status"). */
import { EXIT } from '../util/errors.js';
import type { ControllerErrorCode } from '../vmm/controller-types.js';

export const EXIT_STATUS_OF: Readonly<Record<ControllerErrorCode, number>> = {
  'invalid-argument': EXIT.USAGE,
  'invalid-state': EXIT.USAGE,
  'not-configured': EXIT.USAGE,
  'not-supported': EXIT.USAGE,
  'bad-image': EXIT.BAD_IMAGE,
  'no-backend': EXIT.NO_BACKEND,
  busy: EXIT.FAILURE,
  'host-io': EXIT.FAILURE,
  internal: EXIT.INTERNAL,
};
