import { readdir, writeFile, mkdir } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { commitChange } from '../helpers/bare-repo.js'
import { type Fault, type GitServer, gitHttpBackendMissing, startGitServer } from '../helpers/git-server.js'
import type { MiniOverlay } from '../helpers/mini-overlay.js'
import { runOlm } from '../helpers/olm.js'
import { cloneRoot, configState, digestOf, makeRoot, publishMiniOverlay, publishedTree } from '../helpers/reliability-system.js'
import { removeDir, suiteDir } from '../helpers/tmp.js'

/**
 * Network faults through the CLI (contract exit statuses): an overlay whose
 * fetch fails keeps its previous cache and the others are updated (exit 3);
 * an overlay with no cache at all means nothing is published (exit 1). The
 * failing overlay and its URL are named; the repository and every cache stay
 * as they were.
 */
const OTHER: MiniOverlay = {
  name: 'other',
  categories: ['app-misc'],
  ebuilds: { 'app-misc/baz-1': { LICENSE: 'MIT' } },
  extraFiles: { 'app-misc/baz/files/baz.conf': 'v1\n' },
}

const missing = gitHttpBackendMissing()
let server: GitServer
let work: string
let template: string


beforeAll(async () => {
  if (missing) return
  work = await suiteDir('olm-net-')
  await publishMiniOverlay(path.join(work, 'git/small.git'))
  await publishMiniOverlay(path.join(work, 'git/other.git'), OTHER)
  await mkdir(path.join(work, 'static'))
  server = await startGitServer({ root: path.join(work, 'git'), staticDir: path.join(work, 'static') })
  template = path.join(work, 'template')
  await makeRoot(template, { serverUrl: server.url, overlays: { small: 'small.git', other: 'other.git' } })
  await request(template, 'app-misc/foo::small', 'app-misc/baz::other')
  const first = await runOlm(['sync', '--root', template])
  expect([first.code, first.stderr]).toEqual([0, ''])

  // Both upstreams move on, so every fetch below wants a pack.
  await commitChange(path.join(work, 'git/small.git'), { 'app-misc/foo/files/foo.conf': 'option = 2\n' })
  await commitChange(path.join(work, 'git/other.git'), { 'app-misc/baz/files/baz.conf': 'v2\n' })
}, 60_000)
afterAll(async () => {
  await server?.close()
  if (work) await removeDir(work)
})

async function request(root: string, ...lines: string[]) {
  await mkdir(path.join(root, 'etc/overlayman/packages.d'), { recursive: true })
  await writeFile(path.join(root, 'etc/overlayman/packages.d/mine.conf'), lines.join('\n') + '\n')
}

/** The repository's content and the overlay caches' files, as one comparable string. */
async function rootState(root: string): Promise<string> {
  const repo = await publishedTree(path.join(root, 'var/db/repos/overlayman'))
  return JSON.stringify({ repo: repo && digestOf(repo.files), config: await configState(root) })
}

let n = 0
async function freshCopy(): Promise<string> {
  const root = path.join(work, `copy${n++}`)
  await cloneRoot(template, root)
  return root
}

const PACK = '/other.git/git-upload-pack'
const REFS = '/other.git/info/refs'
const faults: [string, string, Fault, RegExp][] = [
  ['404 on the ref advertisement', REFS, { kind: 'status', status: 404 }, /404|not found/i],
  ['500 on every request', '/other.git/', { kind: 'status', status: 500 }, /500/],
  ['500 on the pack request', PACK, { kind: 'status', status: 500 }, /500/],
  ['reset after 30 bytes of the advertisement', REFS, { kind: 'reset', afterBytes: 30 }, /./],
  ['reset after 200 bytes of the pack', PACK, { kind: 'reset', afterBytes: 200 }, /./],
  ['truncation at a pkt-line boundary in the pack', PACK, { kind: 'truncate', afterBytes: 150 }, /./],
  ['truncation at a pkt-line boundary in the advertisement', REFS, { kind: 'truncate', afterBytes: 60 }, /./],
  ['a corrupt pack', PACK, { kind: 'corrupt', afterBytes: 120 }, /./],
  ['a stalled pack', PACK, { kind: 'stall', afterBytes: 100 }, /no data from .* for \d+ ms/],
  ['a stalled advertisement', REFS, { kind: 'stall' }, /no data|stall|timed? ?out/i],
]

describe.skipIf(missing)('network faults through olm sync', () => {
  describe('an overlay with a previous cache: exit 3, the others updated, it kept as it was', () => {
    it.each(faults)('%s', async (_name, prefix, fault, message) => {
      const root = await freshCopy()
      const config = await configState(root)
      server.setFault(prefix, fault)
      let r
      try {
        r = await runOlm(['sync', '--root', root], { env: { OLM_TEST_HTTP_STALL_MS: '1500' } })
      } finally {
        server.setFault(prefix, null)
      }
      expect(r.code).toBe(3)
      expect(r.stderr).toContain('other')
      expect(r.stderr).toContain(`${server.url}/other.git`)
      expect(r.stderr).toMatch(message)
      // small was updated, other kept its previous state
      const repo = path.join(root, 'var/db/repos/overlayman')
      const { readFile } = await import('node:fs/promises')
      expect(await readFile(path.join(repo, 'app-misc/foo/files/foo.conf'), 'utf8')).toBe('option = 2\n')
      expect(await readFile(path.join(repo, 'app-misc/baz/files/baz.conf'), 'utf8')).toBe('v1\n')
      expect(await configState(root)).toEqual(config)
      // the cache is intact: the next sync fetches and succeeds
      const next = await runOlm(['sync', '--root', root])
      expect([next.code, next.stderr]).toEqual([0, ''])
      expect(await readFile(path.join(repo, 'app-misc/baz/files/baz.conf'), 'utf8')).toBe('v2\n')
      await removeDir(root)
    })
  })
})

describe.skipIf(missing)('network faults with nothing to fall back on', () => {
  async function freshRoot(overlays: Record<string, string>, serverUrl = server.url) {
    const root = path.join(work, `fresh${n++}`)
    await makeRoot(root, { serverUrl, overlays })
    await request(root, 'app-misc/foo::small', 'app-misc/baz::other')
    return root
  }

  it.each([
    ['404', { kind: 'status', status: 404 }],
    ['a reset', { kind: 'reset', afterBytes: 10 }],
    ['a corrupt pack', { kind: 'corrupt', afterBytes: 120 }],
  ] as [string, Fault][])('a never-fetched overlay failing with %s: exit 1, nothing published', async (_name, fault) => {
    const root = await freshRoot({ small: 'small.git', other: 'other.git' })
    const config = await configState(root)
    server.setFault('/other.git/', fault)
    let r
    try {
      r = await runOlm(['sync', '--root', root])
    } finally {
      server.setFault('/other.git/', null)
    }
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`${server.url}/other.git`)
    expect(r.stderr).toContain('other')
    expect(await publishedTree(path.join(root, 'var/db/repos/overlayman'))).toBeNull()
    expect(await configState(root)).toEqual(config)
    expect(await readdir(path.join(root, 'etc/portage/repos.conf'))).toEqual(['gentoo.conf'])
  })

  it('a server that is down: exit 3 with a previous cache, exit 1 without one', async () => {
    const down = await startGitServer({ root: path.join(work, 'git') })
    const root = path.join(work, `down${n++}`)
    await makeRoot(root, { serverUrl: server.url, overlays: { small: 'small.git' } })
    await writeFile(path.join(root, 'etc/overlayman/overlays.d/down.conf'), `[other]\nsync-uri = ${down.url}/other.git\n`)
    await request(root, 'app-misc/foo::small', 'app-misc/baz::other')
    expect((await runOlm(['sync', '--root', root])).code).toBe(0)
    const before = await publishedTree(path.join(root, 'var/db/repos/overlayman'))
    await down.close()
    const config = await configState(root)
    const r = await runOlm(['sync', '--root', root])
    expect(r.code).toBe(3)
    expect(r.stderr).toContain(`${down.url}/other.git`)
    expect(r.stderr).toMatch(/ECONNREFUSED|refused|cannot reach/i)
    const after = await publishedTree(path.join(root, 'var/db/repos/overlayman'))
    expect(after!.files.get('app-misc/baz/files/baz.conf')).toEqual(before!.files.get('app-misc/baz/files/baz.conf'))
    expect(await configState(root)).toEqual(config)

    const fresh = await freshRoot({ small: 'small.git' })
    await writeFile(path.join(fresh, 'etc/overlayman/overlays.d/down.conf'), `[other]\nsync-uri = ${down.url}/other.git\n`)
    const r1 = await runOlm(['sync', '--root', fresh])
    expect(r1.code).toBe(1)
    expect(r1.stderr).toContain(`${down.url}/other.git`)
    expect(await publishedTree(path.join(fresh, 'var/db/repos/overlayman'))).toBeNull()
  })

  it('every overlay failing with a previous cache: exit 1, nothing changed', async () => {
    const root = await freshCopy()
    const before = await rootState(root)
    server.setFault('/', { kind: 'status', status: 503 })
    let r
    try {
      r = await runOlm(['sync', '--root', root])
    } finally {
      server.setFault('/', null)
    }
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`${server.url}/other.git`)
    expect(r.stderr).toContain(`${server.url}/small.git`)
    expect(await rootState(root)).toEqual(before)
  })

  it.each([
    ['not XML at all', 'this is not xml\n'],
    ['an unclosed element', '<?xml version="1.0"?>\n<repositories version="1.0">\n<repo quality="experimental" status="unofficial">\n<name>reg</name>\n'],
    ['an HTML error page', '<html><body>502 Bad Gateway</body></html>\n'],
  ])('a malformed repositories.xml (%s) with no cached copy: exit 1 naming its URL, nothing written', async (_name, xml) => {
    await writeFile(path.join(work, 'static/repositories.xml'), xml)
    const root = await freshRoot({ small: 'small.git' })
    await request(root, 'app-misc/foo::small', 'app-misc/thing::reg')
    const config = await configState(root)
    const r = await runOlm(['sync', '--root', root])
    expect(r.stderr).toContain(`${server.url}/repositories.xml`)
    expect(r.stderr).toContain('reg')
    expect(r.code).toBe(1)
    expect(await publishedTree(path.join(root, 'var/db/repos/overlayman'))).toBeNull()
    expect(await configState(root)).toEqual(config)
  })
})
