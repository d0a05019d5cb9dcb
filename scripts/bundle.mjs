#!/usr/bin/env node
// Bundles the compiled CLI (dist/cli/main.js and everything it imports,
// dependencies included) into dist/olm.mjs, which bin/olm.js loads. One
// file instead of ~80 ES modules: node resolves, reads and links each module
// separately, and that was a quarter of every olm run's start-up
// (`olm --version`: 205 -> 150 ms on the bench machine, `node -e 0`: 80 ms).
import { build } from 'esbuild'

await build({
  entryPoints: ['dist/cli/main.js'],
  outfile: 'dist/olm.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.19',
  // commander is CommonJS: its require() of node built-ins needs a real require in an ES module.
  banner: { js: "import { createRequire as __olmRequire } from 'node:module'; const require = __olmRequire(import.meta.url);" },
  sourcemap: true,
  logLevel: 'warning',
})
