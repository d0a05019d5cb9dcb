#!/usr/bin/env node
// Generates a large synthetic ebuild overlay (issue 8): by default 5,000
// packages, ~16,000 ebuilds, a valid metadata/md5-cache (real _md5_ of every
// ebuild, real md5s of the overlay's eclasses in _eclasses_, inherited
// transitively), eclasses inheriting eclasses four deep, licenses, dependency
// stacks 20 deep (see gen-model.mjs), Manifests, metadata.xml, files/,
// profiles (categories, package.mask, license_groups). Text comes from a
// seeded PRNG, so git compresses it about as it does a real overlay, and
// every run with the same options produces the same bytes.
//
//   node bench/gen-overlay.mjs DIR [--packages N] [--seed S] [--tag T]
//   import { generateOverlay, touchPackages } from './gen-overlay.mjs'
import { execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { inheritClosure, isGentooEclass, overlayModel, prng } from './gen-model.mjs'

export { overlayModel, pickRequests, prng } from './gen-model.mjs'

const md5 = (text) => createHash('md5').update(text).digest('hex')

function eclassText(e) {
  const r = prng(e.seed)
  const body = Array.from({ length: e.lines }, (_, i) =>
    i % 12 === 0 ? `\n${e.name.replace(/-/g, '_')}_fn${i}() {` : i % 12 === 11 ? '}' : `\t# ${r.words(6)}`)
  return `# Copyright 2024 Synthetic Authors
# Distributed under the terms of the GNU General Public License v2

# @ECLASS: ${e.name}.eclass
# @MAINTAINER:
# synthetic@example.invalid
# @BLURB: ${r.words(5)}

if [[ -z \${_${e.name.replace(/-/g, '_').toUpperCase()}_ECLASS} ]]; then
_${e.name.replace(/-/g, '_').toUpperCase()}_ECLASS=1
${e.inherits.length ? `\ninherit ${e.inherits.join(' ')}\n` : ''}${body.join('\n')}
fi
`
}

function licenseText(l) {
  const r = prng(l.seed)
  return Array.from({ length: 30 + r.int(120) }, () => r.words(10)).join('\n') + '\n'
}

/** The ebuild and what its md5-cache entry must say. */
function ebuild(p, version, revision = 0) {
  const r = prng(p.seed ^ parseInt(md5(`${version} ${revision}`).slice(0, 7), 16))
  const live = version === '9999'
  const depBlock = (list) => (list.length ? `\n\t${list.join('\n\t')}\n` : '')
  const text = `# Copyright 2024 Synthetic Authors
# Distributed under the terms of the GNU General Public License v2

EAPI=8

inherit ${p.inherits.join(' ')}

DESCRIPTION="${r.words(4 + r.int(6))}"
HOMEPAGE="https://example.invalid/${p.name}"
${live ? `EGIT_REPO_URI="https://example.invalid/${p.name}.git"` : `SRC_URI="https://example.invalid/${p.name}/archive/v\${PV}.tar.gz -> \${P}.tar.gz"`}

LICENSE="${p.license}"
SLOT="0"
${live ? '' : 'KEYWORDS="~amd64 ~arm64"\n'}IUSE="test"
RESTRICT="!test? ( test )"

RDEPEND="${depBlock(p.deps.rdep)}"
DEPEND="\${RDEPEND}"
BDEPEND="${depBlock(p.deps.bdep)}"
${p.deps.pdep.length ? `PDEPEND="${p.deps.pdep.join(' ')}"\n` : ''}
src_prepare() {
	default
	sed -i -e 's/-O2//' Makefile || die "sed failed for ${p.name}"
}

src_install() {
	emake DESTDIR="\${D}" PREFIX="\${EPREFIX}/usr" install
	einstalldocs${revision ? `\n\t# revision ${revision}` : ''}
}
`
  return { text, live }
}

function cacheEntry(model, eclassMd5, p, version, eb) {
  const rdep = p.deps.rdep.join(' ')
  const eclasses = inheritClosure(model, p.inherits).map((n) => `${n}\t${eclassMd5.get(n) ?? md5(`gentoo ${n}`)}`)
  const keys = {
    BDEPEND: p.deps.bdep.join(' '),
    DEFINED_PHASES: 'install prepare',
    DEPEND: rdep,
    DESCRIPTION: /DESCRIPTION="([^"]*)"/.exec(eb.text)[1],
    EAPI: '8',
    HOMEPAGE: `https://example.invalid/${p.name}`,
    INHERIT: p.inherits.join(' '),
    IUSE: 'test',
    KEYWORDS: eb.live ? '' : '~amd64 ~arm64',
    LICENSE: p.license,
    PDEPEND: p.deps.pdep.join(' '),
    RDEPEND: rdep,
    RESTRICT: '!test? ( test )',
    SLOT: '0',
    SRC_URI: eb.live ? '' : `https://example.invalid/${p.name}/archive/v${version}.tar.gz -> ${p.name}-${version}.tar.gz`,
  }
  const lines = Object.entries(keys).filter(([, v]) => v !== '').map(([k, v]) => `${k}=${v}`)
  return [...lines, `_eclasses_=${eclasses.join('\t')}`, `_md5_=${md5(eb.text)}`].join('\n') + '\n'
}

function manifestText(p, versions) {
  const r = prng(p.seed ^ versions.length)
  return versions.filter((v) => v !== '9999').map((v) =>
    `DIST ${p.name}-${v}.tar.gz ${10000 + r.int(9000000)} BLAKE2B ${r.hex(128)} SHA512 ${r.hex(128)}\n`).join('')
}

const metadataXml = (p) => `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE pkgmetadata SYSTEM "https://www.gentoo.org/dtd/metadata.dtd">
<pkgmetadata>
	<maintainer type="person">
		<email>${p.name}@example.invalid</email>
	</maintainer>
	<upstream>
		<remote-id type="github">synthetic/${p.name}</remote-id>
	</upstream>
</pkgmetadata>
`

/** Every file of the overlay as [relPath, text], in a stable order. */
export function* overlayFiles(model) {
  const eclassMd5 = new Map()
  yield ['profiles/repo_name', `${model.tag}\n`]
  yield ['metadata/layout.conf', 'masters = gentoo\nthin-manifests = true\nsign-manifests = false\ncache-formats = md5-dict\n']
  yield ['profiles/categories', [...new Set(model.packages.map((p) => p.category))].sort().join('\n') + '\n']
  yield ['profiles/package.mask', model.packages.filter((p) => p.masked).map((p) => `# masked for testing\n=${p.category}/${p.name}-${p.versions.at(-1)}\n`).join('\n')]
  yield ['profiles/license_groups', `${model.tag.toUpperCase()}-FREE ${model.licenses.slice(0, 20).map((l) => l.name).join(' ')}\n`]
  for (const e of model.eclasses) {
    if (isGentooEclass(e.name)) continue
    const text = eclassText(e)
    eclassMd5.set(e.name, md5(text))
    yield [`eclass/${e.name}.eclass`, text]
  }
  for (const l of model.licenses) yield [`licenses/${l.name}`, licenseText(l)]
  for (const p of model.packages) {
    const dir = `${p.category}/${p.name}`
    for (const v of p.versions) {
      const eb = ebuild(p, v)
      yield [`${dir}/${p.name}-${v}.ebuild`, eb.text]
      yield [`metadata/md5-cache/${dir}-${v}`, cacheEntry(model, eclassMd5, p, v, eb)]
    }
    yield [`${dir}/Manifest`, manifestText(p, p.versions)]
    yield [`${dir}/metadata.xml`, metadataXml(p)]
    if (p.files) yield [`${dir}/files/${p.name}-fix-build.patch`, `--- a/Makefile\n+++ b/Makefile\n@@ -1 +1 @@\n-CFLAGS = -O2\n+CFLAGS ?= -O2\n`]
  }
}

/** Writes the overlay into dir; returns { packages, ebuilds, files, model }. */
export async function generateOverlay(dir, { packages = 5000, seed = 1, tag = 'syn' } = {}) {
  const model = overlayModel({ packages, seed, tag })
  const dirs = new Set()
  let files = 0
  const pending = []
  for (const [rel, text] of overlayFiles(model)) {
    const file = path.join(dir, rel)
    const parent = path.dirname(file)
    if (!dirs.has(parent)) {
      await mkdir(parent, { recursive: true })
      dirs.add(parent)
    }
    pending.push(writeFile(file, text))
    files++
    if (pending.length >= 64) await Promise.all(pending.splice(0))
  }
  await Promise.all(pending)
  const ebuilds = model.packages.reduce((n, p) => n + p.versions.length, 0)
  return { packages: model.packages.length, ebuilds, files, model }
}

/**
 * Creates a bare repository at repoDir whose branch holds one commit with the
 * overlay, streamed through `git fast-import`: no work tree on disk, which
 * on a slow filesystem is most of the cost of 40,000 small files.
 */
export async function importOverlay(repoDir, { packages = 5000, seed = 1, tag = 'syn', branch = 'main' } = {}) {
  const model = overlayModel({ packages, seed, tag })
  const env = { PATH: process.env.PATH, HOME: repoDir, GIT_CONFIG_NOSYSTEM: '1' }
  execFileSync('git', ['init', '-q', '--bare', `--initial-branch=${branch}`, repoDir], { env })
  const child = spawn('git', ['-C', repoDir, 'fast-import', '--quiet'], { env, stdio: ['pipe', 'ignore', 'inherit'] })
  const done = new Promise((ok, fail) => child.on('close', (code) => (code === 0 ? ok() : fail(new Error(`git fast-import exited ${code}`)))))
  const write = (s) => (child.stdin.write(s) ? null : new Promise((ok) => child.stdin.once('drain', ok)))
  const paths = []
  let files = 0
  for (const [rel, text] of overlayFiles(model)) {
    const bytes = Buffer.from(text)
    paths.push(rel)
    await write(`blob\nmark :${++files}\ndata ${bytes.length}\n`)
    await write(bytes)
    await write('\n')
  }
  const who = 'Synthetic <synthetic@example.invalid> 1700000000 +0000'
  await write(`commit refs/heads/${branch}\ncommitter ${who}\ndata 8\ninitial\n`)
  for (let i = 0; i < paths.length; i++) await write(`M 100644 :${i + 1} ${paths[i]}\n`)
  child.stdin.end('\n')
  await done
  const ebuilds = model.packages.reduce((n, p) => n + p.versions.length, 0)
  return { packages: model.packages.length, ebuilds, files, model }
}

/**
 * Changes for one upstream commit bumping `count` packages as a maintainer
 * would: a new ebuild, its valid md5-cache entry, and the updated Manifest.
 * The bumped packages are the tops of stacks, which benchmarks request.
 * Keys are repo paths (for bare-repo.ts commitChange).
 */
export function touchPackages({ packages = 5000, seed = 1, tag = 'syn', count = 10, round = 1, model, avoid, first } = {}) {
  model ??= overlayModel({ packages, seed, tag })
  const eclassMd5 = new Map(model.eclasses.filter((e) => !isGentooEclass(e.name)).map((e) => [e.name, md5(eclassText(e))]))
  const stacks = Math.floor(model.packages.length / 20)
  // With `avoid` (a set of cat/pn): packages outside it, as upstream commits mostly touch packages a user does not use.
  const others = avoid ? model.packages.filter((p) => !avoid.has(`${p.category}/${p.name}`)) : null
  // `first` (cat/pn): bumped before those, e.g. one package of a user's closure among nine others.
  const firstPkg = first ? model.packages.find((p) => `${p.category}/${p.name}` === first) : null
  const changes = {}
  for (let i = 0; i < count; i++) {
    const picked = others ? others[(i * 97 + round * 13) % others.length] : (model.packages[((i * 7 + round) % stacks) * 20 + 19] ?? model.packages[i])
    const p = i === 0 && firstPkg ? firstPkg : picked
    const v = `${20 + round}.${i}`
    const eb = ebuild(p, v, round)
    const dir = `${p.category}/${p.name}`
    changes[`${dir}/${p.name}-${v}.ebuild`] = eb.text
    changes[`metadata/md5-cache/${dir}-${v}`] = cacheEntry(model, eclassMd5, p, v, eb)
    changes[`${dir}/Manifest`] = manifestText(p, [...p.versions, v])
  }
  return changes
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dir = process.argv[2]
  if (!dir) {
    console.error('usage: gen-overlay.mjs DIR [--packages N] [--seed S] [--tag T]')
    process.exit(2)
  }
  const arg = (name, dflt) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : dflt)
  const res = await generateOverlay(dir, { packages: Number(arg('--packages', 5000)), seed: Number(arg('--seed', 1)), tag: arg('--tag', 'syn') })
  console.log(`${res.files} files, ${res.packages} packages, ${res.ebuilds} ebuilds in ${dir}`)
}
