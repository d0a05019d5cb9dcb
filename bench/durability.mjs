#!/usr/bin/env node
// How a patched generation is best made durable: one syncfs(2) of the file
// system (`sync -f`) or an fsync of each file written and each directory
// changed (Flush.fsyncUpTo). Publishes a 10,000-file repository twice, then
// eight patches of N changed files each (2N paths: a recycled generation is
// two publishes old), the two ways taking turns; with --dirty MB, that much of
// another writer's data is left unflushed on the same file system before each
// patch (dd), as a running emerge leaves it. Prints the medians.
//
//   npm run build && node bench/durability.mjs [--files N] [--dirty MB] [--dir DIR]
//
// DIR (default: a new directory under the system's temp dir) must be on the
// file system to measure; it is removed afterwards.
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const projectDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const load = (rel) => import(pathToFileURL(path.join(projectDir, 'dist', rel)).href)
const { publishPlan } = await load('repo/publish.js')
const { systemFlush } = await load('repo/flush.js')
const { fileEntry } = await load('repo/plan.js')

const arg = (name, dflt) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : dflt)
const changed = Number(arg('--files', 10))
const dirtyMb = Number(arg('--dirty', 0))
const work = await mkdtemp(path.join(arg('--dir', os.tmpdir()), 'olm-durability-'))

const system = systemFlush()
if (!system.batch) throw new Error('no sync(1) here: nothing to compare')
const ways = { flushed: { ...system, fsyncUpTo: 0 }, fsynced: { ...system, fsyncUpTo: Infinity } }

/** 10,000 files in 2,000 packages of 50 categories; the first `changed` differ in every round. */
function plan(round) {
  const entries = []
  for (let i = 0; i < 10000; i++) {
    const text = i < changed ? `round ${round} file ${i}\n` : `file ${i}\n`
    entries.push(fileEntry(`c${i % 50}/p${i % 2000}/f${i}`, Buffer.from(text), false))
  }
  return { digest: `r${round}-`.padEnd(64, '0'), entries }
}

const times = { flushed: [], fsynced: [] }
try {
  const locations = {}
  for (const way of Object.keys(ways)) {
    locations[way] = path.join(work, way, 'overlayman')
    await mkdir(path.dirname(locations[way]), { recursive: true })
    for (const round of [1, 2]) await publishPlan(plan(round), locations[way], undefined, ways[way])
  }
  for (let round = 3; round <= 10; round++) {
    for (const way of round % 2 ? ['flushed', 'fsynced'] : ['fsynced', 'flushed']) {
      const p = plan(round)
      execFileSync('sync')
      if (dirtyMb) execFileSync('dd', ['if=/dev/zero', `of=${path.join(work, 'dirty')}`, 'bs=1M', `count=${dirtyMb}`, 'status=none'])
      const t = performance.now()
      await publishPlan(p, locations[way], undefined, ways[way])
      times[way].push(performance.now() - t)
      await rm(path.join(work, 'dirty'), { force: true })
    }
  }
} finally {
  await rm(work, { recursive: true, force: true })
}
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1].toFixed(0)
console.log(`patch of ${changed} changed files (${2 * changed} paths), ${dirtyMb} MB of another writer's data unflushed: flushed ${median(times.flushed)} ms, fsynced ${median(times.fsynced)} ms (medians of ${times.flushed.length})`)
