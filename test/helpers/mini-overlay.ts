import { createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'

/**
 * Writes a small ebuild repository with a valid md5-cache, for resolver
 * tests that need precise metadata without a bash evaluation.
 * Keys of `ebuilds` are "cat/pn-ver"; values are md5-cache keys (DEPEND, ...).
 */
export interface MiniOverlay {
  name: string
  masters?: string
  categories?: string[]
  eclasses?: Record<string, string>
  licenses?: string[]
  packageMask?: string
  licenseGroups?: string
  thirdPartyMirrors?: string
  ebuilds: Record<string, Record<string, string> & { inherit?: string }>
  extraFiles?: Record<string, string>
}

const md5 = (s: string | Buffer) => createHash('md5').update(s).digest('hex')

export async function writeMiniOverlay(dir: string, o: MiniOverlay, masterEclasses: Record<string, string> = {}): Promise<void> {
  const put = async (rel: string, text: string) => {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true })
    await writeFile(path.join(dir, rel), text)
  }
  await put('profiles/repo_name', `${o.name}\n`)
  await put('metadata/layout.conf', `masters = ${o.masters ?? 'gentoo'}\nthin-manifests = true\n`)
  if (o.categories) await put('profiles/categories', o.categories.join('\n') + '\n')
  if (o.packageMask) await put('profiles/package.mask', o.packageMask)
  if (o.licenseGroups) await put('profiles/license_groups', o.licenseGroups)
  if (o.thirdPartyMirrors) await put('profiles/thirdpartymirrors', o.thirdPartyMirrors)
  for (const [name, text] of Object.entries(o.eclasses ?? {})) await put(`eclass/${name}.eclass`, text)
  for (const l of o.licenses ?? []) await put(`licenses/${l}`, `${l} license text of ${o.name}\n`)
  for (const [rel, text] of Object.entries(o.extraFiles ?? {})) await put(rel, text)
  for (const [cpv, meta] of Object.entries(o.ebuilds)) {
    const [category, pf] = cpv.split('/') as [string, string]
    const pn = pf.replace(/-[0-9].*$/, '')
    const { inherit = '', ...keys } = meta
    const ebuild = `EAPI=8\n${inherit ? `inherit ${inherit}\n` : ''}# ${cpv}\n` + Object.entries(keys).map(([k, v]) => `${k}="${v}"\n`).join('')
    await put(`${category}/${pn}/${pf}.ebuild`, ebuild)
    const all = { ...masterEclasses, ...o.eclasses }
    const eclasses = inherit.split(/\s+/).filter(Boolean).map((n) => `${n}\t${md5(all[n] ?? '')}`)
    const lines = Object.entries({ EAPI: '8', SLOT: '0', ...keys }).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`)
    if (eclasses.length) lines.push(`_eclasses_=${eclasses.join('\t')}`)
    lines.push(`_md5_=${md5(ebuild)}`)
    await put(`metadata/md5-cache/${category}/${pf}`, lines.join('\n') + '\n')
  }
}
