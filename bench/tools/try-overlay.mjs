#!/usr/bin/env node
// Tries olm on a real overlay checkout, as a release is tried before it ships:
// the overlay's files become a git repository served by git http-backend on
// 127.0.0.1, a scratch root names it and the machine's ::gentoo, and
// `olm add` copies the packages asked for. The generated repository is then
// checked the way portage would use it, by code that shares nothing with olm:
//   - every ebuild has an md5-cache entry whose _md5_ is the ebuild's and whose
//     _eclasses_ md5s are those of the eclasses the repository ships (an entry
//     made against another ::gentoo's eclasses is counted, not failed: portage
//     regenerates it, as it would with the overlay itself enabled);
//   - every eclass inherited and every license named is there;
//   - every dependency's package is in the repository or ::gentoo, or olm
//     said it could not satisfy it.
//
//   npm run build && npm run build:helpers
//   node bench/tools/try-overlay.mjs --overlay /var/db/repos/guru [--gentoo /var/db/repos/gentoo]
//        [--work DIR] [--random N [--seed S]] [--bump N] [category/package ...]
//
// --bump N: then commits a new revision of N copied packages upstream and syncs again.
//
// Exit status: 0 when olm succeeded (or partly) and every check held, 1 otherwise.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const project = fileURLToPath(new URL('../..', import.meta.url))
const { commitChange, makeBareRepo } = await import(path.join(project, 'dist-test/test/helpers/bare-repo.js'))
const { startGitServer } = await import(path.join(project, 'dist-test/test/helpers/git-server.js'))

const argv = process.argv.slice(2)
const opt = (name, dflt) => {
  const i = argv.indexOf(name)
  if (i < 0) return dflt
  const value = argv[i + 1]
  argv.splice(i, 2)
  return value
}
const overlayDir = path.resolve(opt('--overlay', '') || usage('--overlay is required'))
const gentooDir = path.resolve(opt('--gentoo', '/var/db/repos/gentoo'))
const work = opt('--work', '') || (await mkdtemp(path.join(tmpdir(), 'olm-try-')))
const random = Number(opt('--random', '0'))
const bump = Number(opt('--bump', '0'))
const seed = Number(opt('--seed', '1'))
const name = (await readFile(path.join(overlayDir, 'profiles/repo_name'), 'utf8').catch(() => '')).trim() || path.basename(overlayDir)
const wanted = argv.length ? argv : await pickPackages(overlayDir, random || 10, seed)

function usage(message) {
  console.error(`${message}\nusage: try-overlay.mjs --overlay DIR [--gentoo DIR] [--work DIR] [--random N [--seed S]] [--bump N] [category/package ...]`)
  process.exit(2)
}

/** The category directories of a repository: every directory but the repository's own (virtual/ and pentoo/ have no dash). */
async function categoryDirs(dir) {
  const own = new Set(['eclass', 'licenses', 'metadata', 'profiles', 'scripts'])
  return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory() && !d.name.startsWith('.') && !own.has(d.name))
}

/** N packages of the overlay, the same for the same seed. */
async function pickPackages(dir, n, s) {
  const all = []
  for (const cat of await categoryDirs(dir))
    for (const pkg of await readdir(path.join(dir, cat.name), { withFileTypes: true }))
      if (pkg.isDirectory() && (await readdir(path.join(dir, cat.name, pkg.name))).some((f) => f.endsWith('.ebuild'))) all.push(`${cat.name}/${pkg.name}`)
  all.sort()
  let x = s >>> 0 || 1
  const next = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (x >>> 0) / 2 ** 32)
  const picked = new Set()
  while (picked.size < Math.min(n, all.length)) picked.add(all[Math.floor(next() * all.length)])
  return [...picked].sort()
}

const root = path.join(work, 'root')
const gitRoot = path.join(work, 'git')
console.log(`overlay ::${name} at ${overlayDir}; ::gentoo at ${gentooDir}; work in ${work}`)
await makeBareRepo(overlayDir, path.join(gitRoot, `${name}.git`))
const server = await startGitServer({ root: gitRoot })
let failures = 0
try {
  // Paths in the root's repos.conf are taken under --root, as olm takes every path: ::gentoo is linked in.
  await mkdir(path.join(root, 'var/db/repos'), { recursive: true })
  await symlink(gentooDir, path.join(root, 'var/db/repos/gentoo'))
  await mkdir(path.join(root, 'etc/portage/repos.conf'), { recursive: true })
  await writeFile(path.join(root, 'etc/portage/repos.conf/gentoo.conf'), '[gentoo]\nlocation = /var/db/repos/gentoo\n')
  await mkdir(path.join(root, 'etc/overlayman/overlays.d'), { recursive: true })
  await writeFile(path.join(root, `etc/overlayman/overlays.d/${name}.conf`), `[${name}]\nsync-uri = ${server.url}/${name}.git\n`)
  const add = await olm(['add', ...wanted.map((cp) => `${cp}::${name}`)])
  console.log(`\n$ olm add ${wanted.map((cp) => `${cp}::${name}`).join(' ')}   (exit ${add.code}, ${add.ms} ms)\n${add.out}${add.err}`)
  if (add.code !== 0 && add.code !== 3) failures++
  else {
    failures += await check(path.join(root, 'var/db/repos/overlayman'), add.err)
    const again = await olm(['sync'])
    console.log(`$ olm sync   (exit ${again.code}, ${again.ms} ms)\n${again.out}${again.err}`)
    if (again.code !== add.code) failures++
    if (bump) failures += await bumpAndSync()
  }
} finally {
  await server.close()
}
console.log(failures ? `${failures} problem(s)` : 'every check held')
process.exitCode = failures ? 1 : 0

/**
 * An upstream commit as the overlay's maintainers make them: a new revision
 * of `bump` copied packages (their newest ebuild again, without an md5-cache
 * entry, so olm evaluates it), then `olm sync`, the checks again, and each new
 * ebuild looked for in the repository. Returns the failures.
 */
async function bumpAndSync() {
  const repo = path.join(root, 'var/db/repos/overlayman')
  const changes = {}
  const expected = []
  for (const cp of wanted) {
    if (expected.length === bump) break
    const ebuilds = (await readdir(path.join(repo, cp)).catch(() => [])).filter((f) => f.endsWith('.ebuild')).sort()
    const newest = ebuilds.at(-1)
    if (!newest) continue
    const pf = newest.slice(0, -'.ebuild'.length)
    const next = /-r(\d+)$/.test(pf) ? pf.replace(/-r(\d+)$/, (_, r) => `-r${Number(r) + 1}`) : `${pf}-r1`
    changes[`${cp}/${next}.ebuild`] = await readFile(path.join(repo, cp, newest))
    expected.push(`${cp}/${next}.ebuild`)
  }
  await commitChange(path.join(gitRoot, `${name}.git`), changes, 'bump')
  const run = await olm(['sync'])
  console.log(`\n$ olm sync   after a commit adding ${expected.join(' ')}   (exit ${run.code}, ${run.ms} ms)\n${run.out}${run.err}`)
  if (run.code !== 0 && run.code !== 3) return 1
  let failed = await check(repo, run.err)
  for (const rel of expected) {
    const left = run.err.includes(`${rel.split('/').slice(0, 1)}/${path.basename(rel, '.ebuild')}::${name} is left out`)
    if (!left && !existsSync(path.join(repo, rel))) failed += (console.log(`  FAIL ${rel} is not in the repository after the sync`), 1)
  }
  return failed
}

function md5(bytes) {
  return createHash('md5').update(bytes).digest('hex')
}

function olm(args) {
  return new Promise((resolve) => {
    const start = Date.now()
    const child = spawn(process.execPath, [path.join(project, 'bin/olm.js'), ...args, '--root', root], { env: { ...process.env, NO_COLOR: '1' } })
    let out = ''
    let err = ''
    child.stdout.on('data', (c) => (out += c))
    child.stderr.on('data', (c) => (err += c))
    child.on('close', (code) => resolve({ code, out, err, ms: Date.now() - start }))
  })
}


/** The checks of the header; returns how many failed, each said. */
async function check(repo, olmStderr) {
  let failed = 0
  const fail = (m) => (failed++, console.log(`  FAIL ${m}`))
  const eclassMd5 = new Map()
  /** md5 and whether the repository ships it; null when neither has it. */
  const eclassOf = async (e) => {
    if (!eclassMd5.has(e)) {
      const own = path.join(repo, 'eclass', `${e}.eclass`)
      const file = existsSync(own) ? own : path.join(gentooDir, 'eclass', `${e}.eclass`)
      eclassMd5.set(e, existsSync(file) ? { md5: md5(await readFile(file)), own: file === own } : null)
    }
    return eclassMd5.get(e)
  }
  // An entry made against another ::gentoo than yours: portage regenerates it, as it would with
  // the overlay itself enabled (olm copies the overlay's entries; the contract leaves masters' md5s unchecked).
  const staleAgainstGentoo = new Set()
  const licenseThere = (l) => existsSync(path.join(repo, 'licenses', l)) || existsSync(path.join(gentooDir, 'licenses', l))
  const packageThere = (cp) => [repo, gentooDir].some((d) => existsSync(path.join(d, cp)))
  let ebuilds = 0
  for (const cat of await categoryDirs(repo)) {
    for (const pn of (await readdir(path.join(repo, cat.name), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name)) {
      for (const file of (await readdir(path.join(repo, cat.name, pn))).filter((f) => f.endsWith('.ebuild'))) {
        ebuilds++
        const pf = file.slice(0, -'.ebuild'.length)
        const where = `${cat.name}/${pf}`
        const entryText = await readFile(path.join(repo, 'metadata/md5-cache', cat.name, pf), 'utf8').catch(() => null)
        if (entryText === null) {
          fail(`${where}: no md5-cache entry`)
          continue
        }
        const entry = Object.fromEntries(entryText.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
        if (entry._md5_ !== md5(await readFile(path.join(repo, cat.name, pn, file)))) fail(`${where}: _md5_ is not the ebuild's`)
        const pairs = (entry._eclasses_ ?? '').split('\t').filter(Boolean)
        for (let i = 0; i + 1 < pairs.length; i += 2) {
          const have = await eclassOf(pairs[i])
          if (have === null) fail(`${where}: inherits ${pairs[i]}, in neither the repository nor ::gentoo`)
          else if (have.md5 === pairs[i + 1]) continue
          else if (have.own) fail(`${where}: the repository's eclass ${pairs[i]} has md5 ${have.md5}, the entry says ${pairs[i + 1]}`)
          else staleAgainstGentoo.add(where)
        }
        for (const l of (entry.LICENSE ?? '').split(/\s+/).filter((t) => /^[A-Za-z0-9_][A-Za-z0-9+_.-]*$/.test(t)))
          if (!licenseThere(l) && !olmStderr.includes(`license ${l} of`)) fail(`${where}: license ${l} in neither the repository nor ::gentoo, and olm did not say so`)
        for (const key of ['DEPEND', 'RDEPEND', 'BDEPEND', 'PDEPEND', 'IDEPEND']) {
          for (const cp of dependencyPackages(entry[key] ?? ''))
            if (!packageThere(cp) && !olmStderr.includes(cp)) fail(`${where} ${key}: ${cp} is in neither the repository nor ::gentoo, and olm did not say so`)
        }
      }
    }
  }
  console.log(`checked ${ebuilds} ebuilds in ${repo}: ${failed ? `${failed} failed` : 'all held'}`)
  if (staleAgainstGentoo.size) console.log(`  (${staleAgainstGentoo.size} entries name ::gentoo eclass md5s other than yours: portage regenerates those, as with the overlay itself)`)
  if (ebuilds === 0) return failed + 1
  return failed
}

/**
 * The category/package of every atom a dependency value needs, any-of groups
 * left out (one child may be missing by design), blockers too. A plain
 * tokenizer: USE conditionals and groups only nest what they hold.
 */
function dependencyPackages(value) {
  const out = new Set()
  let anyOfDepth = 0
  const stack = []
  const tokens = value.split(/\s+/).filter(Boolean)
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]
    if (t === '||' && tokens[i + 1] === '(') {
      stack.push(true)
      anyOfDepth++
      i++
    } else if (t === '(') stack.push(false)
    else if (t === ')') anyOfDepth -= stack.pop() ? 1 : 0
    else if (t.endsWith('?')) continue
    else if (!t.startsWith('!') && anyOfDepth === 0) {
      // Only an atom with an operator has a version to cut: "-9x" may end a plain package name.
      const bare = t.replace(/\[.*$/, '').replace(/:.*$/, '')
      const m = /^([<>=~]*)([A-Za-z0-9+_][A-Za-z0-9+_.-]*\/[A-Za-z0-9+_][A-Za-z0-9+_.*-]*)$/.exec(bare)
      if (m) out.add(m[1] ? m[2].replace(/-\d[^-]*(-r\d+)?\*?$/, '') : m[2])
    }
  }
  return out
}
