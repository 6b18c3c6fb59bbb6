/** tsvmm's version, as `tsvmm --version`, the API's vmm_version and package.json say (a test keeps them equal). */
export const TSVMM_VERSION = '0.1.0';
