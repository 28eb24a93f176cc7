/**
 * True in the core classic script's build, false in every other (esbuild's
 * `define`, scripts/build.mjs): what the core leaves out to stay under its size.
 */
declare const CORE: boolean
