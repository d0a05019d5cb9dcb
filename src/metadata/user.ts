/**
 * Which user evaluates ebuilds. As root, olm must not source untrusted bash
 * with its own privileges: it uses the `portage` user where it exists (as
 * the package manager does), else `nobody`.
 */
import { readFile } from 'node:fs/promises'
import { OlmError } from '../errors.js'

export interface EvaluationUser {
  name: string
  uid: number
  gid: number
}

/** Picks portage, else nobody, from /etc/passwd text; null when neither is listed. */
export function pickEvaluationUser(passwd: string): EvaluationUser | null {
  const users = new Map<string, EvaluationUser>()
  for (const line of passwd.split('\n')) {
    const [name, , uid, gid] = line.split(':')
    if (!name || !/^\d+$/.test(uid ?? '') || !/^\d+$/.test(gid ?? '')) continue
    users.set(name, { name, uid: Number(uid), gid: Number(gid) })
  }
  const user = users.get('portage') ?? users.get('nobody') ?? null
  return user && user.uid !== 0 ? user : null
}

/**
 * The `runAs` for createMetadataEvaluator: undefined when olm does not run
 * as root (it cannot change user then), else portage or nobody. Throws when
 * running as root and neither user exists (OlmError CONFIG_INVALID), rather
 * than evaluating as root.
 */
export async function readEvaluationUser(passwdFile = '/etc/passwd'): Promise<EvaluationUser | undefined> {
  if (process.getuid?.() !== 0) return undefined
  const user = pickEvaluationUser(await readFile(passwdFile, 'utf8'))
  if (!user)
    throw new OlmError('CONFIG_INVALID', `${passwdFile} lists neither a portage nor a nobody user to evaluate ebuilds as`, {
      file: passwdFile,
      hint: 'create a "portage" user, or run olm as an unprivileged user',
    })
  return user
}
