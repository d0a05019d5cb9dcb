#!/usr/bin/env node
// Sums a --cpu-prof profile by function: self time, or with --inclusive the
// time of every sample whose stack holds the function (async continuations
// are not linked, so an await boundary ends a stack).
//
//   node --cpu-prof --cpu-prof-dir=DIR bin/olm.js sync --root ROOT
//   node bench/tools/cpu-profile.mjs DIR/*.cpuprofile [--inclusive] [--top N] [--match REGEX]
import { readFileSync } from 'node:fs'

const argv = process.argv.slice(2)
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt)
const p = JSON.parse(readFileSync(argv[0], 'utf8'))
const inclusive = argv.includes('--inclusive')
const top = Number(opt('--top', 30))
const match = new RegExp(opt('--match', '.'))
const byId = new Map(p.nodes.map((n) => [n.id, n]))
const parent = new Map()
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const name = (n) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/')}:${n.callFrame.lineNumber + 1}`
const total = new Map()
for (let i = 0; i < p.samples.length; i++) {
  const seen = new Set()
  for (let id = p.samples[i]; id !== undefined; id = inclusive ? parent.get(id) : undefined) {
    const k = name(byId.get(id))
    if (seen.has(k)) continue
    seen.add(k)
    total.set(k, (total.get(k) ?? 0) + p.timeDeltas[i])
  }
}
for (const [k, us] of [...total].filter(([k]) => match.test(k)).sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(us / 1000).toFixed(1).padStart(9)} ms  ${k}`)
