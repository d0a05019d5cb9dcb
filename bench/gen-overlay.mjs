#!/usr/bin/env node
// Generates a large synthetic ebuild overlay (default 3,500 packages, ~21,000
// files): ebuilds, Manifests with DIST lines, metadata.xml, md5-cache entries,
// eclasses, licenses and profiles. Content is varied text from a seeded PRNG,
// so git compresses it about as it does a real overlay, and every run with the
// same seed produces the same bytes.
//
//   node bench/gen-overlay.mjs DIR [--packages N] [--seed S]
//   import { generateOverlay, touchPackages } from './gen-overlay.mjs'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const WORDS = ('library tool python bindings for fast simple parser client server daemon utility '
  + 'framework plugin driver kernel module terminal graphical interface network audio video '
  + 'image compression crypto protocol async runtime compiler toolkit wrapper').split(' ')
const ECLASSES = Array.from({ length: 24 }, (_, i) => `synth-${['build', 'py', 'go', 'rust', 'cmake', 'meson'][i % 6]}${i}`)
const LICENSES = Array.from({ length: 30 }, (_, i) => `SYN-LIC-${i}`)

export function prng(seed) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (list) => list[Math.floor(next() * list.length)],
    hex: (len) => Array.from({ length: len }, () => Math.floor(next() * 16).toString(16)).join(''),
  }
}

/** Package list: [{ category, name, versions }] for the given count and seed. */
export function packageList(count, seed = 1) {
  const r = prng(seed)
  const categories = Array.from({ length: 40 }, (_, i) => `${['dev', 'app', 'sys', 'net', 'media'][i % 5]}-synth${i}`)
  return Array.from({ length: count }, (_, i) => ({
    category: categories[i % categories.length],
    name: `${r.pick(WORDS)}-${r.pick(WORDS)}${i}`,
    versions: [`${1 + r.int(5)}.${r.int(20)}`, `${6 + r.int(5)}.${r.int(20)}.${r.int(9)}`],
  }))
}

export function ebuildText(pkg, version, r, revision = 0) {
  const inherit = [r.pick(ECLASSES), r.pick(ECLASSES)]
  const deps = Array.from({ length: 2 + r.int(6) }, () => `\t${r.pick(['>=', '', '~'])}dev-synth${r.int(40)}/${r.pick(WORDS)}-${r.pick(WORDS)}${r.int(3500)}`)
  const desc = Array.from({ length: 4 + r.int(6) }, () => r.pick(WORDS)).join(' ')
  return `# Copyright 2024 Synthetic Authors
# Distributed under the terms of the GNU General Public License v2

EAPI=8

inherit ${inherit.join(' ')}

DESCRIPTION="${desc}"
HOMEPAGE="https://example.invalid/${pkg.name}"
SRC_URI="https://example.invalid/${pkg.name}/archive/v\${PV}.tar.gz -> \${P}.tar.gz"

LICENSE="${r.pick(LICENSES)}"
SLOT="0"
KEYWORDS="~amd64${r.next() < 0.5 ? ' ~arm64' : ''}${r.next() < 0.3 ? ' ~riscv' : ''}"
IUSE="${r.next() < 0.5 ? 'test ' : ''}${r.pick(WORDS)}"
RESTRICT="!test? ( test )"

RDEPEND="
${deps.join('\n')}
"
DEPEND="\${RDEPEND}"
BDEPEND="virtual/pkgconfig"

src_prepare() {
	default
	sed -i -e 's/-O2//' Makefile || die "sed failed for ${pkg.name}"
}

src_install() {
	emake DESTDIR="\${D}" PREFIX="\${EPREFIX}/usr" install
	einstalldocs${revision ? `\n\t# revision ${revision}` : ''}
}
`
}

function manifestText(pkg, r) {
  return pkg.versions.map((v) => `DIST ${pkg.name}-${v}.tar.gz ${10000 + r.int(9000000)} BLAKE2B ${r.hex(128)} SHA512 ${r.hex(128)}\n`).join('')
}

function md5CacheText(pkg, version, r) {
  return [
    `BDEPEND=virtual/pkgconfig`,
    `DEFINED_PHASES=install prepare`,
    `DEPEND=dev-synth${r.int(40)}/${r.pick(WORDS)}`,
    `DESCRIPTION=${r.pick(WORDS)} ${r.pick(WORDS)} ${r.pick(WORDS)}`,
    `EAPI=8`,
    `HOMEPAGE=https://example.invalid/${pkg.name}`,
    `INHERIT=${r.pick(ECLASSES)}`,
    `KEYWORDS=~amd64`,
    `LICENSE=${r.pick(LICENSES)}`,
    `SLOT=0`,
    `SRC_URI=https://example.invalid/${pkg.name}/archive/v${version}.tar.gz -> ${pkg.name}-${version}.tar.gz`,
    `_eclasses_=${r.pick(ECLASSES)}\t${r.hex(32)}`,
    `_md5_=${r.hex(32)}`,
  ].join('\n') + '\n'
}

async function put(root, relPath, text) {
  const file = path.join(root, relPath)
  await mkdir(path.dirname(file), { recursive: true })
  await writeFile(file, text)
}

/** Writes the overlay into dir; returns { packages, files }. */
export async function generateOverlay(dir, { packages = 3500, seed = 1 } = {}) {
  const r = prng(seed)
  const list = packageList(packages, seed)
  let files = 0
  const write = async (rel, text) => (await put(dir, rel, text), files++)
  await write('profiles/repo_name', 'synthetic\n')
  await write('metadata/layout.conf', 'masters = gentoo\nthin-manifests = true\ncache-formats = md5-dict\n')
  await write('profiles/categories', [...new Set(list.map((p) => p.category))].sort().join('\n') + '\n')
  for (const e of ECLASSES) await write(`eclass/${e}.eclass`, `# ${e}\n${Array.from({ length: 60 }, () => `# ${r.pick(WORDS)} ${r.pick(WORDS)}`).join('\n')}\n`)
  for (const l of LICENSES) await write(`licenses/${l}`, Array.from({ length: 80 }, () => r.pick(WORDS)).join(' ') + '\n')
  for (const pkg of list) {
    const base = `${pkg.category}/${pkg.name}`
    for (const v of pkg.versions) {
      await write(`${base}/${pkg.name}-${v}.ebuild`, ebuildText(pkg, v, r))
      await write(`metadata/md5-cache/${base}-${v}`, md5CacheText(pkg, v, r))
    }
    await write(`${base}/Manifest`, manifestText(pkg, r))
    await write(`${base}/metadata.xml`, `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE pkgmetadata SYSTEM "https://www.gentoo.org/dtd/metadata.dtd">\n<pkgmetadata>\n\t<maintainer type="person">\n\t\t<email>${pkg.name}@example.invalid</email>\n\t</maintainer>\n</pkgmetadata>\n`)
  }
  return { packages: list.length, files }
}

/**
 * Changes for a commit touching `count` packages as a version bump would:
 * a new ebuild, a new Manifest and md5-cache entry. Keys are repo paths.
 */
export function touchPackages({ packages = 3500, seed = 1, count = 10, round = 1 } = {}) {
  const list = packageList(packages, seed)
  const r = prng(seed * 7919 + round)
  const changes = {}
  for (let i = 0; i < count; i++) {
    const pkg = list[(i * 337 + round * 13) % list.length]
    const v = `${20 + round}.${i}`
    const bumped = { ...pkg, versions: [...pkg.versions, v] }
    changes[`${pkg.category}/${pkg.name}/${pkg.name}-${v}.ebuild`] = ebuildText(pkg, v, r, round)
    changes[`${pkg.category}/${pkg.name}/Manifest`] = manifestText(bumped, r)
    changes[`metadata/md5-cache/${pkg.category}/${pkg.name}-${v}`] = md5CacheText(pkg, v, r)
  }
  return changes
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dir = process.argv[2]
  if (!dir) {
    console.error('usage: gen-overlay.mjs DIR [--packages N] [--seed S]')
    process.exit(2)
  }
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(name)
    return i > 0 ? Number(process.argv[i + 1]) : dflt
  }
  const res = await generateOverlay(dir, { packages: arg('--packages', 3500), seed: arg('--seed', 1) })
  console.log(`${res.files} files, ${res.packages} packages in ${dir}`)
}
