#!/usr/bin/env node
// Resolve-only timing: opens an overlay's git cache as olm does and resolves
// the closure of the requests given, then builds the write plan, timing each
// step in this process (no fetch, no publish). Prints one JSON line.
//
//   node bench/resolve-only.mjs CACHE_DIR OVERLAY GENTOO_DIR cat/pkg...
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { PROJECT } from './lib.mjs'

const dist = (rel) => import(pathToFileURL(path.join(PROJECT, 'dist', rel)).href)
const { openGitTree } = await dist('overlay/git.js')
const { createOverlayIndex } = await dist('resolve/overlay-index.js')
const { openLocalTree } = await dist('local/local-tree.js')
const { parseRequest } = await dist('config/requests.js')
const { resolveClosure } = await dist('resolve/closure.js')
const { buildPlan } = await dist('repo/plan.js')

const [cacheDir, overlay, gentooDir, ...packages] = process.argv.slice(2)
const requests = packages.map((cp, i) => parseRequest(`${cp}::${overlay}`, { file: 'bench.conf', line: i + 1 }))
const t0 = performance.now()
const tree = await openGitTree(cacheDir, overlay)
const overlays = new Map([[overlay, createOverlayIndex(tree)]])
const closure = await resolveClosure({ requests, overlays, local: openLocalTree([{ name: 'gentoo', dir: gentooDir }]) })
const t1 = performance.now()
const plan = await buildPlan(closure, { repoName: 'overlayman', trees: new Map([[overlay, tree]]) })
const t2 = performance.now()
console.log(JSON.stringify({
  resolveMs: t1 - t0,
  planMs: t2 - t1,
  packages: closure.packages.length,
  ebuilds: closure.packages.reduce((n, p) => n + p.ebuilds.length, 0),
  eclasses: closure.eclasses.length,
  licenses: closure.licenses.length,
  unsatisfied: closure.unsatisfied.length,
  files: plan.entries.length,
}))
