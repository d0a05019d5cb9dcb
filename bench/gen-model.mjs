// The shape of a synthetic overlay, decided before any text is written: which
// packages, versions, eclasses (and what they inherit), licenses and
// dependencies exist. Deterministic for a given seed, so the generator, the
// upstream "bump" commits and the benchmark's choice of packages agree.
//
// Dependencies form stacks of STACK packages: each package depends on the one
// below it (chains up to STACK deep), sometimes on another of its stack and
// on the bottom "library" of another stack (which depends on nothing in the
// overlay). So one request pulls ~STACK to ~STACK*2 packages, as a GURU
// application with its python libraries does, and never the whole overlay.

const WORDS = ('library tool python bindings fast simple parser client server daemon utility '
  + 'framework plugin driver kernel module terminal graphical interface network audio video '
  + 'image compression crypto protocol async runtime compiler toolkit wrapper').split(' ')
export const STACK = 20

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
    chance: (p) => next() < p,
    hex: (len) => Array.from({ length: len }, () => Math.floor(next() * 16).toString(16)).join(''),
    words: (n) => Array.from({ length: n }, () => WORDS[Math.floor(next() * WORDS.length)]).join(' '),
  }
}

/** Packages of the ::gentoo stand-in (fixtures/overlays/gentoo) that the local tree satisfies. */
const GENTOO_DEPS = ['dev-lang/python', '>=dev-util/cmake-3.20', 'virtual/pkgconfig', 'dev-vcs/git', '>=dev-libs/openssl-3', 'app-misc/jq', 'dev-python/requests']
/** Eclasses the masters provide: inherited, listed in _eclasses_, never copied. */
const GENTOO_ECLASSES = ['toolchain-funcs', 'systemd', 'python-utils-r1']
/** Licenses the local tree has. */
const GENTOO_LICENSES = ['GPL-2', 'MIT', 'BSD', 'Apache-2.0']

/**
 * Eclasses in four layers: layer n inherits one or two of layer n-1 (and
 * sometimes a ::gentoo eclass), so inherit chains run four deep.
 */
function eclassModel(r, tag) {
  const sizes = [8, 16, 20, 12]
  const layers = []
  const eclasses = []
  sizes.forEach((size, layer) => {
    const names = Array.from({ length: size }, (_, i) => `${tag}${['base', 'build', 'lang', 'app'][layer]}-${i}`)
    for (const name of names) {
      const inherits = layer === 0 ? [] : [...new Set([r.pick(layers[layer - 1]), r.pick(layers[layer - 1])])]
      if (r.chance(0.2)) inherits.push(r.pick(GENTOO_ECLASSES))
      eclasses.push({ name, inherits, lines: 40 + r.int(160), seed: r.int(1 << 30) })
    }
    layers.push(names)
  })
  return { eclasses, top: [...layers[2], ...layers[3]] }
}

function packageNames(count, r, tag) {
  const categories = Array.from({ length: 48 }, (_, i) => `${['dev', 'app', 'sys', 'net', 'media', 'sci'][i % 6]}-${tag}${i}`)
  return Array.from({ length: count }, (_, i) => ({
    index: i,
    category: categories[Math.floor(i / STACK) % categories.length],
    name: `${r.pick(WORDS)}-${r.pick(WORDS)}${i}`,
  }))
}

function versionsOf(r) {
  const major = 1 + r.int(5)
  const vs = [`${major}.${r.int(10)}`, `${major}.${10 + r.int(10)}.${r.int(9)}`, `${major + 1}.${r.int(10)}`]
  if (r.chance(0.2)) vs.push('9999')
  return vs
}

const atomOf = (p, op = '') => (op ? `${op}${p.category}/${p.name}-${p.versions[0]}` : `${p.category}/${p.name}`)

/** RDEPEND/DEPEND/BDEPEND/PDEPEND text for package i (PMS 8.2 syntax: any-of, USE-conditional, blockers). */
function depsOf(pkgs, i, r) {
  const pos = i % STACK
  const base = i - pos
  const rdep = []
  if (pos > 0) rdep.push(atomOf(pkgs[i - 1], r.chance(0.5) ? '>=' : ''))
  if (pos > 1 && r.chance(0.4)) rdep.push(atomOf(pkgs[base + r.int(pos - 1)]))
  if (r.chance(0.3)) {
    const lib = Math.floor(r.int(pkgs.length) / STACK) * STACK
    if (lib !== base) rdep.push(atomOf(pkgs[lib]))
  }
  for (let n = r.int(3); n > 0; n--) rdep.push(r.pick(GENTOO_DEPS))
  if (r.chance(0.25)) rdep.push(`|| ( ${r.pick(GENTOO_DEPS.filter((d) => !d.startsWith('>')))} ${atomOf(pkgs[(i + 7) % pkgs.length])} )`)
  if (r.chance(0.1)) rdep.push(`!${atomOf(pkgs[(i + 3) % pkgs.length])}`)
  const bdep = ['virtual/pkgconfig']
  if (pos > 2 && r.chance(0.3)) bdep.push(`test? ( ${atomOf(pkgs[base + r.int(pos)])} )`)
  const pdep = r.chance(0.05) && pos + 1 < STACK && i + 1 < pkgs.length ? [atomOf(pkgs[i + 1])] : []
  return { rdep: [...new Set(rdep)], bdep, pdep }
}

/**
 * The whole overlay: { tag, eclasses, licenses, packages }. `tag` prefixes
 * categories and eclasses so several overlays never collide.
 */
export function overlayModel({ packages = 5000, seed = 1, tag = 'syn' } = {}) {
  const r = prng(seed)
  const { eclasses, top } = eclassModel(r, tag)
  const licenses = Array.from({ length: 60 }, (_, i) => ({ name: `${tag.toUpperCase()}-LICENSE-${i}`, seed: r.int(1 << 30) }))
  const pkgs = packageNames(packages, r, tag)
  for (const p of pkgs) p.versions = versionsOf(r)
  for (const p of pkgs) {
    p.deps = depsOf(pkgs, p.index, r)
    p.inherits = [...new Set([r.pick(top), ...(r.chance(0.5) ? [r.pick(top)] : []), ...(r.chance(0.3) ? [r.pick(GENTOO_ECLASSES)] : [])])]
    const own = r.pick(licenses).name
    p.license = r.chance(0.3) ? `${own} || ( ${r.pick(GENTOO_LICENSES)} ${r.pick(licenses).name} )` : r.chance(0.5) ? own : r.pick(GENTOO_LICENSES)
    p.files = r.chance(0.1)
    p.masked = r.chance(0.02)
    p.seed = r.int(1 << 30)
  }
  return { tag, eclasses, licenses, packages: pkgs }
}

/** Every eclass an ebuild inheriting `names` gets, directly or through other eclasses (for _eclasses_). */
export function inheritClosure(model, names) {
  const byName = new Map(model.eclasses.map((e) => [e.name, e]))
  const out = new Set()
  const visit = (n) => {
    if (out.has(n)) return
    out.add(n)
    for (const m of byName.get(n)?.inherits ?? []) visit(m)
  }
  names.forEach(visit)
  return [...out].sort()
}

export const isGentooEclass = (name) => GENTOO_ECLASSES.includes(name)

/**
 * `count` requests a benchmark can make, spread over the overlay: first the
 * top of every stack (the deepest chains), then packages halfway up, and so on.
 */
export function pickRequests(model, count) {
  const stacks = Math.floor(model.packages.length / STACK)
  const out = []
  for (const pos of [STACK - 1, STACK / 2 - 1, (3 * STACK) / 4 - 1, STACK / 4 - 1, 0]) {
    const step = Math.max(1, Math.floor(stacks / Math.max(1, count - out.length)))
    for (let k = 0; k < stacks && out.length < count; k += step) out.push(model.packages[k * STACK + pos])
  }
  return out.map((p) => `${p.category}/${p.name}`)
}
