import { createHash } from 'node:crypto'

/** Lower-case hex MD5 of bytes or of a string's UTF-8 encoding (md5-cache `_md5_` / `_eclasses_` values, pms.md §5.2). */
export function md5Hex(data: Uint8Array | string): string {
  return createHash('md5').update(data).digest('hex')
}
