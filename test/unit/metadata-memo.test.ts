import { describe, expect, it } from 'vitest'
import { eclassesText, eclassPairs, MetadataMemo } from '../../src/resolve/metadata-memo.js'

const entry = { keys: { SLOT: '0', DEPEND: 'dev-libs/a\tb' }, eclasses: eclassesText([{ name: 'nim-utils', md5: 'ab12' }, { name: 'nim-build', md5: 'cd34' }]) }

describe('MetadataMemo', () => {
  it('gives back what a resolution set, in the next one, and keeps only what that one used', () => {
    const first = MetadataMemo.parse(null)
    const a = MetadataMemo.key('git:aa', 'git:ab')
    const b = MetadataMemo.key('git:ba', 'git:bb')
    expect(first.get(a)).toBeUndefined()
    first.set(a, entry)
    first.set(b, { keys: { SLOT: '1' }, eclasses: '' })
    const second = MetadataMemo.parse(first.serialize())
    expect(second.get(a)).toEqual(entry)
    // b was not looked up: the third knows only a
    const third = MetadataMemo.parse(second.serialize())
    expect(third.get(b)).toBeUndefined()
    expect(third.get(a)).toEqual(entry)
  })

  it('reads a damaged entry as a miss, and another format as nothing', () => {
    const key = MetadataMemo.key('git:aa', 'git:ab')
    const good = MetadataMemo.parse(null)
    good.set(key, entry)
    const text = good.serialize()
    expect(MetadataMemo.parse(text.replace('"SLOT"', '"SLOT')).get(key)).toBeUndefined() // not JSON
    expect(MetadataMemo.parse(text.replace('"0"', '0')).get(key)).toBeUndefined() // wrong shape
    expect(MetadataMemo.parse(text.replace('olm metadata memo 2', 'olm metadata memo 1')).get(key)).toBeUndefined()
    expect(MetadataMemo.parse(text.replace(/"eclasses":"[^"]*"/, '"eclasses":[["nim-utils","ab12"]]')).get(key)).toBeUndefined() // the first format's pairs
    expect(MetadataMemo.parse('').get(key)).toBeUndefined()
  })

  it('keeps eclass pairs as one string, and gives them back', () => {
    // a master's eclass is not checked, so a name with a space must not shift the pairs after it
    const pairs = [{ name: 'nim-utils', md5: 'ab12' }, { name: 'odd name', md5: 'cd34' }, { name: 'nim-build', md5: 'ef56' }]
    expect(eclassesText(pairs)).toBe('nim-utils\tab12\todd name\tcd34\tnim-build\tef56')
    expect(eclassPairs(eclassesText(pairs))).toEqual(pairs)
    expect(eclassPairs('')).toEqual([])
    expect(eclassPairs('nim-utils\tab12\tnim-build')).toBeNull() // damaged
  })
})
