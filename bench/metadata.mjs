#!/usr/bin/env node
// Depend-phase throughput: evaluated ebuilds per second on a generated
// overlay whose ebuilds inherit the fixture ::gentoo stand-in eclasses
// (distutils-r1, pypi, linux-mod-r1, systemd, git-r3, docs), first with an
// empty results cache, then with a warm one.
//
//   npm run build && node bench/metadata.mjs [--ebuilds N] [--jobs J]
// The default of 1200 ebuilds measures the sustained rate: a few hundred
// would count starting the workers and copying the master eclasses in it.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)))
const { createMetadataEvaluator } = await import(path.join(root, 'dist/metadata/evaluator.js'))
const { readEvaluationUser } = await import(path.join(root, 'dist/metadata/user.js'))
const { openDirTree } = await import(path.join(root, 'dist/overlay/dir-tree.js'))
const { createOverlayIndex } = await import(path.join(root, 'dist/resolve/overlay-index.js'))

const { values } = parseArgs({ options: { ebuilds: { type: 'string', default: '1200' }, jobs: { type: 'string' } } })
const count = Number(values.ebuilds)
const jobs = values.jobs ? Number(values.jobs) : os.availableParallelism()

/** Ebuild bodies modelled on the tenstorrent fixtures; `i` varies names and values. */
const TEMPLATES = [
  (i) => `EAPI=8
DISTUTILS_USE_PEP517=setuptools
PYTHON_COMPAT=( python3_{12..13} )
inherit distutils-r1 pypi
DESCRIPTION="Synthetic python package ${i}"
HOMEPAGE="https://example.org/py${i}"
LICENSE="MIT"
SLOT="0"
KEYWORDS="~amd64"
RDEPEND="dev-python/dep${i % 17}[\${PYTHON_USEDEP}]"
distutils_enable_tests pytest
`,
  (i) => `EAPI=8
inherit linux-mod-r1
DESCRIPTION="Synthetic kernel module ${i}"
HOMEPAGE="https://example.org/kmod${i}"
if [[ \${PV} == 9999 ]]; then
	inherit git-r3
	EGIT_REPO_URI="https://example.org/kmod${i}.git"
else
	SRC_URI="https://example.org/kmod${i}-\${PV}.tar.gz"
	KEYWORDS="~amd64"
fi
LICENSE="GPL-2"
SLOT="0"
IUSE="debug"
src_compile() { linux-mod-r1_src_compile; }
`,
  (i) => `EAPI=8
inherit systemd
DESCRIPTION="Synthetic daemon ${i}"
HOMEPAGE="https://example.org/d${i}"
SRC_URI="https://example.org/d${i}-\${PV}.tar.gz"
LICENSE="Apache-2.0"
SLOT="0/\$(ver_cut 1-2)"
KEYWORDS="~amd64 ~arm64"
RDEPEND="acct-user/d${i % 5}"
src_install() { :; }
`,
]

const workDir = await mkdtemp(path.join(os.tmpdir(), 'olm-bench-metadata-'))
try {
  const overlayDir = path.join(workDir, 'overlay')
  for (let i = 0; i < count; i++) {
    const pn = `synth${i}`
    const version = i % 10 === 1 ? '9999' : `1.${i % 7}.${i}`
    const dir = path.join(overlayDir, 'bench-cat', pn)
    await mkdir(dir, { recursive: true })
    await writeFile(path.join(dir, `${pn}-${version}.ebuild`), TEMPLATES[i % TEMPLATES.length](i))
  }
  const options = {
    masterEclassDirs: [path.join(root, 'fixtures/overlays/gentoo/eclass')],
    cacheDir: path.join(workDir, 'cache'),
    jobs,
    runAs: await readEvaluationUser(),
  }
  const index = createOverlayIndex(openDirTree(overlayDir, 'bench', 'bench'))
  const ebuilds = []
  for (let i = 0; i < count; i++) ebuilds.push(...(await index.ebuilds('bench-cat', `synth${i}`)))

  const measure = async (label) => {
    const evaluator = createMetadataEvaluator(options)
    const started = process.hrtime.bigint()
    await Promise.all(ebuilds.map((e) => evaluator(index, e)))
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    const { stats } = evaluator
    await evaluator.close()
    console.log(`${label}: ${ebuilds.length} ebuilds in ${seconds.toFixed(2)} s = ${(ebuilds.length / seconds).toFixed(0)} ebuilds/s` +
      ` (evaluated ${stats.evaluated}, cached ${stats.cached}, failed ${stats.failed}; ${jobs} jobs${options.runAs ? `, as uid ${options.runAs.uid}` : ''};` +
      ` load average ${os.loadavg()[0].toFixed(1)} on ${os.availableParallelism()} CPUs)`)
  }
  await measure('cold cache (bash)')
  await measure('warm cache       ')
} finally {
  await rm(workDir, { recursive: true, force: true })
}
