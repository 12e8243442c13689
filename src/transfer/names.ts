/**
 * The one validation point for names that come from the other side. A name
 * listed by a server must be exactly one path component, otherwise it could
 * steer a write outside the destination the user named (CVE-2019-6111).
 */
export function suspectNameReason(name: string): string | null {
  if (name === '') return 'empty name';
  if (name === '.' || name === '..') return `"${name}" is not a file name`;
  if (name.includes('/')) return 'name contains "/"';
  if (name.includes('\0')) return 'name contains a NUL byte';
  // A separator on Windows (C:\x): refused so a tree copied here can be copied on unchanged.
  if (name.includes('\\')) return 'name contains "\\"';
  return null;
}

/** POSIX join that never lets a component climb out (the caller validated it). */
export function joinPath(dir: string, name: string): string {
  if (dir === '' || dir === '.') return name;
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

/** Without trailing slashes; most paths have none, and skip the regex (it ran twice per file copied). */
function trimSlashes(path: string): string {
  return path.endsWith('/') ? path.replace(/\/+$/, '') : path;
}

/** Last component of a POSIX path, ignoring trailing slashes ("a/b/" -> "b"). */
export function baseName(path: string): string {
  const trimmed = trimSlashes(path);
  if (trimmed === '') return path.startsWith('/') ? '/' : '';
  const i = trimmed.lastIndexOf('/');
  return i < 0 ? trimmed : trimmed.slice(i + 1);
}

export function dirName(path: string): string {
  const trimmed = trimSlashes(path);
  const i = trimmed.lastIndexOf('/');
  if (i < 0) return '.';
  if (i === 0) return '/';
  return trimmed.slice(0, i);
}

/**
 * Hidden name a hard link is made under before it is renamed over an existing
 * file (sync --link-dest). Never the partial name: the engine resumes into a
 * partial, and writing into a link would change the older snapshot's file.
 */
export function linkTempName(finalPath: string): string {
  return joinPath(dirName(finalPath), `.${baseName(finalPath)}.ferry-link`);
}

/** Hidden partial-file name beside the target; stable so a rerun finds it. */
export function partialName(finalPath: string): string {
  return joinPath(dirName(finalPath), `.${baseName(finalPath)}.ferry-part`);
}
