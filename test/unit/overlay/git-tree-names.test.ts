import { describe, expect, it } from 'vitest'
import { parseTree } from '../../../src/overlay/git-tree.js'

/** A tree object with one entry of this name. */
const treeWith = (name: string) => Buffer.concat([Buffer.from(`100644 ${name}\0`, 'utf8'), Buffer.alloc(20, 0xab)])

describe('names in a git tree', () => {
  it.each(['foo-1.0.ebuild', 'Manifest', 'files', 'metadata.xml', 'x86_64+cuda', '0', 'a b', 'café', '.gitignore', 'git', 'foo.', '-dash'])('accepts %j', (name) => {
    expect(parseTree(treeWith(name))).toEqual([{ mode: '100644', path: name, oid: 'ab'.repeat(20) }])
  })

  it.each(['.', '..', '...', '. .', '.git', '.GIT', '.Git', '.git.', '.git ', '.git. . ', 'git~1', '.git~2', 'GIT~1', '.g\u200cit', '.git\ufeff', '.git:stream', 'a\\b', ''])('refuses %j', (name) => {
    expect(() => parseTree(treeWith(name))).toThrow(/unsafe/)
  })
})
