/**
 * What the last resolution learned from overlays' md5-cache entries, kept in
 * cache-dir for the next one, by the git ids of the ebuild and of its entry.
 * The same two ids are the same bytes, so whether the entry's _md5_ is the
 * ebuild's is settled; only its eclasses are checked again, against the
 * overlay's eclasses of the day. A hit saves reading, inflating and hashing
 * the ebuild and reading and parsing the entry: a resolve of a 1,157-package
 * closure went from 1.6 to 0.95 s when every entry was known.
 *
 * Only entries that held are kept, and only those the resolution used, so
 * the file stays the size of the closure. Losing it costs one slower resolve.
 */
export interface MemoEntry {
  /** the md5-cache keys the resolver reads */
  keys: Record<string, string>
  /**
   * _eclasses_ as it is in the entry, "name<TAB>md5<TAB>name<TAB>md5...": one
   * string, not pairs, as most ebuilds of an overlay inherit the same few
   * chains (checked once per distinct string), and parsing 12 pairs per entry
   * was most of a lookup. Tabs, as the entry has them: a field can hold a
   * space (only eclasses the overlay ships are checked), never a tab.
   */
  eclasses: string
}

/** A MemoEntry's eclasses, as written from _eclasses_ pairs. */
export function eclassesText(eclasses: readonly { name: string; md5: string }[]): string {
  return eclasses.map((e) => `${e.name}\t${e.md5}`).join('\t')
}

/** The pairs of an eclassesText; null for text that is not one (an odd number of fields). */
export function eclassPairs(text: string): { name: string; md5: string }[] | null {
  const fields = text === '' ? [] : text.split('\t')
  if (fields.length % 2 !== 0) return null
  const pairs: { name: string; md5: string }[] = []
  for (let i = 0; i < fields.length; i += 2) pairs.push({ name: fields[i]!, md5: fields[i + 1]! })
  return pairs
}

/**
 * The file: a format line, then one line per entry, its key, a tab and its
 * JSON. Entries are parsed when looked up: parsing all of them up front held
 * ~10 MB of objects through a resolve that needs each once.
 */
const FORMAT = 'olm metadata memo 2'

export class MetadataMemo {
  /** as JSON: an entry found is written back as it was read, and not held twice */
  private readonly used = new Map<string, string>()

  private constructor(private readonly known: Map<string, string>) {}

  static empty(): MetadataMemo {
    return new MetadataMemo(new Map())
  }

  /** The memo a `serialize` wrote; empty for none (null) or another format. A damaged entry is a miss. */
  static parse(text: string | null): MetadataMemo {
    const lines = text?.split('\n') ?? []
    if (lines[0] !== FORMAT) return MetadataMemo.empty()
    const known = new Map<string, string>()
    for (const line of lines.slice(1)) {
      const tab = line.indexOf('\t')
      if (tab > 0) known.set(line.slice(0, tab), line.slice(tab + 1))
    }
    return new MetadataMemo(known)
  }

  /** `ebuildId` and `entryId`: the git ids of the ebuild and of its md5-cache entry. */
  static key(ebuildId: string, entryId: string): string {
    return `${ebuildId} ${entryId}`
  }

  get(key: string): MemoEntry | undefined {
    const text = this.known.get(key)
    if (text === undefined) return undefined
    let entry: unknown
    try {
      entry = JSON.parse(text)
    } catch {
      return undefined
    }
    if (!isEntry(entry)) return undefined
    this.used.set(key, text)
    return entry
  }

  set(key: string, entry: MemoEntry): void {
    this.used.set(key, JSON.stringify(entry))
  }

  /** What this resolution used, for the next. */
  serialize(): string {
    return [FORMAT, ...[...this.used].map(([key, text]) => `${key}\t${text}`)].join('\n') + '\n'
  }
}

function isEntry(e: unknown): e is MemoEntry {
  const m = e as MemoEntry
  return (
    typeof m === 'object' &&
    m !== null &&
    typeof m.keys === 'object' &&
    m.keys !== null &&
    Object.values(m.keys).every((v) => typeof v === 'string') &&
    typeof m.eclasses === 'string'
  )
}
