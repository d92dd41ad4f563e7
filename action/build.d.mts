/** Types for action/build.mjs (imported by tests/action/dist-up-to-date.test.ts). */
export declare const DIST_FILE: string;
export declare const DIST_PACKAGE_FILE: string;
export declare const DIST_PACKAGE_JSON: string;
export declare function bundleAction(opts: { write: boolean }): Promise<string>;
