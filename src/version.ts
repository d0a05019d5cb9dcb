import { readFileSync } from 'node:fs'

/** olm's own version, from its package.json. */
export const OLM_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
