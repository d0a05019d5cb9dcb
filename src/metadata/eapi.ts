/**
 * What must be known about an ebuild before it is sourced: its EAPI, read
 * from the file head (PMS "EAPI parsing", pms.md §6.1), and PV/PR from its
 * file name. Pure.
 */
import { OlmError } from '../errors.js'
import type { Version } from '../pms/version.js'
import { versionWithoutRevision } from '../pms/version.js'

/** EAPIs the depend-phase harness implements (pms.md §6.3-6.5 differences included). */
export const SUPPORTED_EAPIS: ReadonlySet<string> = new Set(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])

const EAPI_LINE = /^[ \t]*EAPI=(['"]?)([A-Za-z0-9+_.-]*)\1[ \t]*([ \t]#.*)?$/
const SKIPPED_LINE = /^[ \t]*(#.*)?$/

/**
 * The EAPI an ebuild declares in its head: blank and comment lines are
 * skipped, and the first other line must be an `EAPI=` assignment, else the
 * EAPI is "0". An explicit empty `EAPI=` is refused as portage does:
 * OlmError('METADATA_INVALID') with the 1-based line and column of the value.
 */
export function parseHeadEapi(text: string, file?: string): string {
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '')
    if (SKIPPED_LINE.test(line)) continue
    const m = EAPI_LINE.exec(line)
    if (!m) return '0'
    if (m[2] === '')
      throw new OlmError('METADATA_INVALID', `empty EAPI assignment: '${line}'`, {
        file,
        line: i + 1,
        column: line.indexOf('=') + 2,
      })
    return m[2]!
  }
  return '0'
}

/** PV and PR as the package manager sets them (PR is "r0" without a revision). */
export function splitRevision(version: Version): { pv: string; pr: string } {
  return { pv: versionWithoutRevision(version), pr: version.revision === '' ? 'r0' : `r${version.revision}` }
}
