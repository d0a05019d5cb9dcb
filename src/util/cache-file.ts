import fs from 'node:fs/promises'
import path from 'node:path'

/**
 * Replaces a file of cache-dir by rename, without an fsync: these files only
 * save work (a lost or torn one is read as absent and costs a full run), so
 * they need not wait for the disk as /etc and the repository do.
 */
export async function writeCacheFile(file: string, text: string | Uint8Array): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true })
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.olm-${process.pid}`)
  try {
    await fs.writeFile(tmp, text, { mode: 0o644 })
    await fs.rename(tmp, file)
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => {})
    throw err
  }
}
