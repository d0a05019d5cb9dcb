import { describe, expect, it } from 'vitest'
import { pickEvaluationUser } from '../../../src/metadata/user.js'

const base = 'root:x:0:0:root:/root:/bin/bash\n'

describe('pickEvaluationUser', () => {
  it.each([
    [base + 'portage:x:250:250::/var/lib/portage/home:/bin/false\nnobody:x:65534:65534::/:/sbin/nologin\n', { name: 'portage', uid: 250, gid: 250 }],
    [base + 'nobody:x:65534:65534::/:/sbin/nologin\n', { name: 'nobody', uid: 65534, gid: 65534 }],
    [base + 'daemon:x:1:1::/:/sbin/nologin\n', null],
    [base + 'portage:x:0:0::/:/bin/sh\n', null],
    [base + 'portage:x:abc:250::/:/bin/false\nnobody:x:65534:65533::/:/sbin/nologin\n', { name: 'nobody', uid: 65534, gid: 65533 }],
  ])('picks from passwd %#', (passwd, expected) => {
    expect(pickEvaluationUser(passwd)).toEqual(expected)
  })
})
