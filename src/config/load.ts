import fs from 'node:fs/promises'
import path from 'node:path'
import { OlmError, OlmErrors } from '../errors.js'
import { isValidRepoName } from '../pms/names.js'
import { parseIni } from './ini.js'
import type { SystemPaths } from './paths.js'
import { type Request, checkRequestConflicts, parseRequestFile } from './requests.js'
import { SETTINGS, type Settings, defaultSettings } from './settings.js'

/** Where a setting's value came from, for error messages. */
export interface LoadedSettings {
  settings: Settings
  origin: Partial<Record<keyof Settings, string>>
}

/**
 * Reads overlayman.conf (ini, keys at top level or under [overlayman]).
 * Returns every problem at once; a missing file means all defaults.
 */
export async function loadSettings(paths: SystemPaths): Promise<LoadedSettings> {
  const settings = defaultSettings()
  const origin: LoadedSettings['origin'] = {}
  const text = await readOptional(paths.configFile)
  if (text === null) return { settings, origin }
  const file = paths.configFile
  const errors: OlmError[] = []
  for (const section of parseIni(text, file)) {
    if (section.name !== '' && section.name !== 'overlayman') {
      errors.push(new OlmError('CONFIG_INVALID', `unknown section [${section.name}] (settings go at the top or under [overlayman])`, { file, line: section.line }))
      continue
    }
    for (const [key, { value, line }] of section.values) {
      const def = SETTINGS.find((d) => d.key === key)
      if (!def) {
        errors.push(new OlmError('CONFIG_INVALID', `unknown setting "${key}" (known: ${SETTINGS.map((d) => d.key).join(', ')})`, { file, line }))
        continue
      }
      const problem = checkSetting(def.type, key, value)
      if (problem) {
        errors.push(new OlmError('CONFIG_INVALID', problem, { file, line }))
        continue
      }
      ;(settings as unknown as Record<string, string | number>)[def.field] = def.type === 'int' ? Number(value) : value
      origin[def.field] = `${file}:${line}`
    }
  }
  if (errors.length) throw new OlmErrors(errors)
  return { settings, origin }
}

function checkSetting(type: string, key: string, value: string): string | null {
  switch (type) {
    case 'int':
      return /^[1-9][0-9]{0,2}$/.test(value) && Number(value) <= 256 ? null : `${key} must be a whole number from 1 to 256, got "${value}"`
    case 'path':
      return path.isAbsolute(value) && !value.split('/').includes('..') ? null : `${key} must be an absolute path without "..", got "${value}"`
    case 'url':
      return /^https?:\/\/[^\s]+$/.test(value) ? null : `${key} must be an http(s) URL, got "${value}"`
    default:
      if (key === 'repo-name' && !isValidRepoName(value)) return `repo-name "${value}" is not a valid repository name`
      return value === '' ? `${key} is empty` : null
  }
}

/** Files of a conf.d directory that portage-style tools read: *.conf, lexical order, no dot or backup files. */
export async function listConfDir(dir: string): Promise<string[]> {
  let names: string[]
  try {
    names = await fs.readdir(dir)
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return []
    throw err
  }
  // A directory named x.conf is listed too, so reading it can say what is wrong.
  return names
    .filter((n) => n.endsWith('.conf') && !n.startsWith('.'))
    .sort()
    .map((n) => path.join(dir, n))
}

/**
 * Every request, in the contract's fixed order: packages.d/*.conf in lexical
 * order, then the single `packages` file, each top to bottom.
 */
export async function loadRequests(paths: SystemPaths): Promise<Request[]> {
  const files = [...(await listConfDir(paths.packagesDir)), paths.packagesFile]
  const requests: Request[] = []
  const errors: OlmError[] = []
  for (const file of files) {
    const text = await readOptional(file)
    if (text === null) continue
    const parsed = parseRequestFile(text, file)
    requests.push(...parsed.requests)
    errors.push(...parsed.errors)
  }
  errors.push(...checkRequestConflicts(requests))
  if (errors.length) throw new OlmErrors(errors)
  return requests
}

export async function readOptional(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8')
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null
    if (isErrno(err, 'EISDIR')) throw new OlmError('CONFIG_INVALID', 'expected a file, found a directory', { file })
    throw err
  }
}

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code
}
