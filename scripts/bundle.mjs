#!/usr/bin/env node
// Bundles the compiled CLI (dist/cli/main.js and everything it imports,
// dependencies included) into dist/olm.mjs, which bin/olm.js loads. A few
// files instead of ~80 ES modules: node resolves, reads and links each module
// separately, and that was a quarter of every olm run's start-up
// (`olm --version`: 205 -> 150 ms on the bench machine, `node -e 0`: 80 ms).
import { readdir, rm } from 'node:fs/promises'
import { build } from 'esbuild'

// Chunks are named by their hashes: the last build's would otherwise stay beside the new ones.
for (const name of await readdir('dist').catch(() => [])) if (/^olm[-.].*\.mjs(\.map)?$/.test(name)) await rm(`dist/${name}`)

// Split: what is imported on first use (the tarball source, which fetch.ts imports so, and node-tar
// with it) goes to chunks of its own, loaded by the first tarball overlay. V8 parsed node-tar's
// 116 KB at every start: ~6 ms (the import of the bundle, alternated, median of 25: 39.6 -> 33.3
// ms; quartile 36.7 -> 29.1 ms). What both use goes to a shared chunk.
await build({
  entryPoints: { olm: 'dist/cli/main.js' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  splitting: true,
  chunkNames: 'olm-[name]-[hash]',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.19',
  // commander is CommonJS: its require() of node built-ins needs a real require in an ES module.
  banner: { js: "import { createRequire as __olmRequire } from 'node:module'; const require = __olmRequire(import.meta.url);" },
  sourcemap: true,
  logLevel: 'warning',
})
