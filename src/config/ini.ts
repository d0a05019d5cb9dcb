import { OlmError } from '../errors.js'

/**
 * A line-based ini reader that remembers where every key was set, so errors
 * can say "overlayman.conf:12". The `ini` package loses line numbers, which is
 * why olm's own config files go through this instead.
 */
export interface IniValue {
  value: string
  line: number
}

export interface IniSection {
  /** '' for keys before the first [section]. */
  name: string
  line: number
  values: Map<string, IniValue>
}

export function parseIni(text: string, file: string): IniSection[] {
  const sections: IniSection[] = [{ name: '', line: 0, values: new Map() }]
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1
    const trimmed = lines[i]!.trim()
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) continue
    const header = /^\[([^\]]*)\]$/.exec(trimmed)
    if (header) {
      const name = header[1]!.trim()
      if (name === '') throw new OlmError('CONFIG_INVALID', 'empty section name "[]"', { file, line })
      if (sections.some((s) => s.name === name))
        throw new OlmError('CONFIG_INVALID', `section [${name}] appears twice`, { file, line })
      sections.push({ name, line, values: new Map() })
      continue
    }
    const eq = trimmed.indexOf('=')
    if (eq <= 0) throw new OlmError('CONFIG_INVALID', `expected "key = value", got "${trimmed}"`, { file, line })
    const key = trimmed.slice(0, eq).trim()
    const value = trimmed.slice(eq + 1).trim()
    if (!/^[A-Za-z0-9_.-]+$/.test(key))
      throw new OlmError('CONFIG_INVALID', `malformed key "${key}"`, { file, line })
    const section = sections[sections.length - 1]!
    if (section.values.has(key))
      throw new OlmError('CONFIG_INVALID', `"${key}" is set twice${section.name ? ` in [${section.name}]` : ''}`, { file, line })
    section.values.set(key, { value, line })
  }
  return sections.filter((s) => s.name !== '' || s.values.size > 0)
}
