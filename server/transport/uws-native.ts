/**
 * Loads uWebSockets.js and refuses the `ws` fallback shim. The republished package silently falls back to a
 * pure-JS implementation when its native binary does not load; a server (or benchmark) running on that would be
 * a different, slower product, so it is an error here.
 */
import { createRequire } from 'node:module';
import type * as UwsTypes from 'uWebSockets.js';
import { WorldlineError } from '../errors.js';

export type Uws = typeof UwsTypes;

const require = createRequire(import.meta.url);

/** The native module, or CONFIG_INVALID explaining how to get it. */
export function loadNativeUws(): Uws {
  const mod = require('uWebSockets.js') as Uws;
  const native = Object.keys(require.cache).some((k) => /[\\/]uWebSockets\.js[\\/].*uws_[^\\/]+\.node$/.test(k));
  if (!native) {
    throw new WorldlineError(
      'CONFIG_INVALID',
      `uWebSockets.js loaded its ws fallback shim instead of the native binary (platform ${process.platform}-${process.arch}, Node ABI ${process.versions.modules}). ` +
        'Worldline refuses to run on the shim: unset UWS_USE_FALLBACK, use Node 20 on linux-x64/arm64 or darwin, and reinstall with `npm ci`.',
      { platform: process.platform, arch: process.arch, abi: process.versions.modules },
    );
  }
  return mod;
}
