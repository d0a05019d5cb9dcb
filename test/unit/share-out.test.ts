import { describe, expect, it } from 'vitest'
import { shareOut } from '../../src/repo/clone-generation.js'

describe('shareOut (the top-level entries of a generation among parallel cp processes)', () => {
  const weights = new Map([['metadata', 3870], ['dev-syn0', 900], ['app-syn1', 850], ['eclass', 55], ['licenses', 60], ['profiles', 6], ['sci-syn2', 1200]])
  const weight = (n: string) => weights.get(n)!

  it('puts every entry in exactly one group, and the heavy ones apart', () => {
    const groups = shareOut([...weights.keys()], weight, 2)
    expect(groups).toHaveLength(2)
    expect(groups.flat().sort()).toEqual([...weights.keys()].sort())
    const totals = groups.map((g) => g.reduce((t, n) => t + weight(n), 0))
    // metadata alone outweighs all the rest: it gets a process of its own
    expect(groups.find((g) => g.includes('metadata'))).toEqual(['metadata'])
    expect(Math.max(...totals)).toBe(3870)
  })

  it('evens out entries of similar weight', () => {
    const names = Array.from({ length: 40 }, (_, i) => `cat-${i}`)
    const groups = shareOut(names, (n) => 100 + Number(n.slice(4)), 4)
    const totals = groups.map((g) => g.reduce((t, n) => t + 100 + Number(n.slice(4)), 0))
    expect(groups).toHaveLength(4)
    expect(Math.max(...totals) - Math.min(...totals)).toBeLessThanOrEqual(39)
  })

  it('makes no empty group, and one for nothing to share', () => {
    expect(shareOut(['a', 'b'], () => 1, 4)).toEqual([['a'], ['b']])
    expect(shareOut([], () => 1, 4)).toEqual([])
    expect(shareOut(['a', 'b', 'c'], () => 1, 1)).toEqual([['a', 'b', 'c']])
  })
})
