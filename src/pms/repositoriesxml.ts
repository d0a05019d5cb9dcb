/**
 * Gentoo's list of known overlays, repositories.xml (DTD "Gentoo
 * repositories.xml DTD 1.0"; pms.md §8). Pure: the caller fetches the file.
 */
import { OlmError } from '../errors.js'
import { childElements, firstChild, parseXml, textContent, type XmlElement } from './xml.js'

export interface OverlaySourceInfo {
  /** `source@type`: git, rsync, mercurial, svn, … */
  type: string
  url: string
}

export interface RegistryRepo {
  name: string
  /** The English description (lang="en" or no lang), else the first one; whitespace collapsed. */
  description: string
  homepage?: string
  /** `repo@quality`: core, stable, testing, experimental, graveyard. */
  quality: string
  /** `repo@status`: official, unofficial. */
  status: string
  /** `<source>` elements in document order (eselect-repository picks the first usable one). */
  sources: OverlaySourceInfo[]
}

/**
 * Parses repositories.xml into repos by name, in document order. Malformed
 * XML, a root other than `<repositories>`, a `<repo>` without `<name>` and a
 * name listed twice throw OlmError('METADATA_INVALID', …, {file, line}).
 */
export function parseRepositoriesXml(text: string, file?: string): Map<string, RegistryRepo> {
  const root = parseXml(text, file)
  if (root.name !== 'repositories') throw invalid(`root element is <${root.name}>, not <repositories>`, root, file)
  const repos = new Map<string, RegistryRepo>()
  for (const el of childElements(root, 'repo')) {
    const repo = readRepo(el, file)
    if (repos.has(repo.name)) throw invalid(`repository '${repo.name}' is listed twice`, el, file)
    repos.set(repo.name, repo)
  }
  return repos
}

function readRepo(el: XmlElement, file: string | undefined): RegistryRepo {
  const name = text(firstChild(el, 'name'))
  if (name === '') throw invalid('<repo> without a <name>', el, file)
  const repo: RegistryRepo = {
    name,
    description: text(englishDescription(el)),
    quality: el.attrs.get('quality') ?? '',
    status: el.attrs.get('status') ?? '',
    sources: childElements(el, 'source').map((s) => ({ type: s.attrs.get('type') ?? '', url: text(s) })),
  }
  const homepage = text(firstChild(el, 'homepage'))
  if (homepage !== '') repo.homepage = homepage
  return repo
}

function englishDescription(el: XmlElement): XmlElement | undefined {
  const all = childElements(el, 'description')
  return all.find((d) => (d.attrs.get('lang') ?? 'en') === 'en') ?? all[0]
}

function text(el: XmlElement | undefined): string {
  return el === undefined ? '' : textContent(el).replace(/\s+/g, ' ').trim()
}

function invalid(message: string, el: XmlElement, file: string | undefined): OlmError {
  return new OlmError('METADATA_INVALID', `repositories.xml: ${message}`, { file, line: el.line })
}

/** contract: the first `git` source whose URL is https wins; null when none. */
export function pickGitHttpsSource(repo: RegistryRepo): OverlaySourceInfo | null {
  return repo.sources.find((s) => s.type === 'git' && s.url.startsWith('https://')) ?? null
}
