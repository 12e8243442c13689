/**
 * The benchmark's source tree of N small files, built once per N under
 * os.tmpdir() and reused by later runs (building 200,000 files takes longer
 * than the runs it serves). Layout: directories of 100 files, d0/ and d0/sub/,
 * d1/ and d1/sub/, ...; file fK holds 1000 + 10K bytes.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const FILES_PER_DIR = 100;

/** The directories of the tree, relative to its root, in build order. */
export function treeDirs(files: number): string[] {
  const n = Math.ceil(files / FILES_PER_DIR);
  return Array.from({ length: n }, (_, k) => (k % 2 === 0 ? `d${k / 2}` : `d${(k - 1) / 2}/sub`));
}

/**
 * The tree's root, built first if no complete copy is cached. It is built
 * beside its final place and renamed into it, so a path that exists is complete.
 */
export function cachedTree(files: number): string {
  const dir = path.join(os.tmpdir(), `ferry-bench-tree-${files}`);
  if (fs.existsSync(dir)) return dir;
  const tmp = `${dir}.building-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const dirs = treeDirs(files);
  dirs.forEach((d, k) => {
    fs.mkdirSync(path.join(tmp, d), { recursive: true });
    for (let f = 0; f < Math.min(FILES_PER_DIR, files - k * FILES_PER_DIR); f++) {
      fs.writeFileSync(path.join(tmp, d, `f${f}.txt`), 'x'.repeat(1000 + f * 10));
    }
  });
  fs.renameSync(tmp, dir);
  return dir;
}
