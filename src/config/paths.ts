import path from 'node:path'

/**
 * Every system path olm reads or writes, as seen from the host. `root` is the
 * --root option (like portage's ROOT): files are read and written under it,
 * while paths written *into* files (repos.conf `location`) stay as seen from
 * inside the root, so a chroot or container reads them right.
 */
export interface SystemPaths {
  root: string
  etcDir: string
  packagesDir: string
  packagesFile: string
  addFile: string
  overlaysDir: string
  configFile: string
  reposConf: string
}

export function systemPaths(root: string): SystemPaths {
  const etcDir = underRoot(root, '/etc/overlayman')
  return {
    root: path.resolve(root),
    etcDir,
    packagesDir: path.join(etcDir, 'packages.d'),
    packagesFile: path.join(etcDir, 'packages'),
    addFile: path.join(etcDir, 'packages.d', 'olm.conf'),
    overlaysDir: path.join(etcDir, 'overlays.d'),
    configFile: path.join(etcDir, 'overlayman.conf'),
    reposConf: underRoot(root, '/etc/portage/repos.conf'),
  }
}

/** Maps an absolute in-root path ("/var/db/repos/x") to the host path under --root. */
export function underRoot(root: string, inRootPath: string): string {
  return path.join(path.resolve(root), path.resolve('/', inRootPath))
}
