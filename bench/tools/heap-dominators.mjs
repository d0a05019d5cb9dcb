#!/usr/bin/env node
// Where a heap's memory is retained: builds the dominator tree of a V8 heap
// snapshot (v8.writeHeapSnapshot, or node --heapsnapshot-signal) and prints
// the nodes retaining the most, with the edge that names them. Issue 8 found
// the object cache and sliced md5-cache texts this way.
//
//   node --max-old-space-size=8000 bench/tools/heap-dominators.mjs FILE.heapsnapshot [MIN_MIB]
import { readFileSync } from 'node:fs'
const snap = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const m = snap.snapshot.meta
const nf = m.node_fields, N = nf.length, ef = m.edge_fields, E = ef.length
const types = m.node_types[0], etypes = m.edge_types[0]
const S = snap.strings, nodes = snap.nodes, edges = snap.edges
const iType = nf.indexOf('type'), iName = nf.indexOf('name'), iSize = nf.indexOf('self_size'), iEC = nf.indexOf('edge_count')
const eType = ef.indexOf('type'), eName = ef.indexOf('name_or_index'), eTo = ef.indexOf('to_node')
const n = nodes.length / N
const first = new Uint32Array(n + 1)
for (let i = 0, e = 0; i < n; i++) { first[i] = e; e += nodes[i * N + iEC] * E; first[i + 1] = e }
const weak = etypes.indexOf('weak'), shortcut = etypes.indexOf('shortcut')
// DFS postorder from root 0
const post = new Int32Array(n).fill(-1), order = []
const stack = [0], it = new Uint32Array(n); const seen = new Uint8Array(n); seen[0] = 1; it[0] = first[0]
while (stack.length) {
  const v = stack[stack.length - 1]
  if (it[v] < first[v + 1]) {
    const e = it[v]; it[v] += E
    const t = edges[e + eType]; if (t === weak || t === shortcut) continue
    const w = edges[e + eTo] / N
    if (!seen[w]) { seen[w] = 1; it[w] = first[w]; stack.push(w) }
  } else { post[v] = order.length; order.push(v); stack.pop() }
}
// predecessors
const predCount = new Uint32Array(n)
for (let v = 0; v < n; v++) if (seen[v]) for (let e = first[v]; e < first[v + 1]; e += E) { const t = edges[e + eType]; if (t === weak || t === shortcut) continue; predCount[edges[e + eTo] / N]++ }
const predStart = new Uint32Array(n + 1); for (let v = 0; v < n; v++) predStart[v + 1] = predStart[v] + predCount[v]
const preds = new Uint32Array(predStart[n]); const fill = predStart.slice(0, n)
for (let v = 0; v < n; v++) if (seen[v]) for (let e = first[v]; e < first[v + 1]; e += E) { const t = edges[e + eType]; if (t === weak || t === shortcut) continue; const w = edges[e + eTo] / N; preds[fill[w]++] = v }
const idom = new Int32Array(n).fill(-1); idom[0] = 0
const intersect = (a, b) => { while (a !== b) { while (post[a] < post[b]) a = idom[a]; while (post[b] < post[a]) b = idom[b] } return a }
let changed = true
while (changed) { changed = false
  for (let k = order.length - 2; k >= 0; k--) { const v = order[k]; let nd = -1
    for (let p = predStart[v]; p < predStart[v + 1]; p++) { const u = preds[p]; if (idom[u] === -1) continue; nd = nd === -1 ? u : intersect(u, nd) }
    if (nd !== -1 && idom[v] !== nd) { idom[v] = nd; changed = true } } }
const ret = new Float64Array(n)
for (const v of order) { ret[v] += nodes[v * N + iSize]; if (v !== 0 && idom[v] >= 0) ret[idom[v]] += ret[v] }
// name nodes via their first retainer edge name
const edgeName = new Map()
for (let v = 0; v < n; v++) for (let e = first[v]; e < first[v + 1]; e += E) { const w = edges[e + eTo] / N; if (!edgeName.has(w)) { const t = etypes[edges[e + eType]]; edgeName.set(w, (t === 'element' || t === 'hidden') ? `[${edges[e + eName]}]` : S[edges[e + eName]]) } }
const desc = (i) => `${types[nodes[i * N + iType]]}:${S[nodes[i * N + iName]].slice(0, 40)} via ${edgeName.get(i)}`
const minBytes = Number(process.argv[3] ?? 1.5) * 1048576
const cand = []
for (let v = 0; v < n; v++) if (ret[v] > minBytes) cand.push(v)
cand.sort((a, b) => ret[b] - ret[a])
for (const v of cand.slice(0, 40)) console.log((ret[v] / 1048576).toFixed(2).padStart(7), desc(v))
