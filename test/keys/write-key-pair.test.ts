import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import {
  findExistingKeyFiles,
  KeyFileExistsError,
  KeyFileWriteError,
  nodeKeyFileIo,
  replaceFile,
  writeKeyPair,
  type KeyFileIo,
} from '../../src/keys/write-key-pair.js';
import { makeTempDir } from './ssh-keygen-cli.js';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('ferry-write-key-');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const PRIVATE = '-----BEGIN OPENSSH PRIVATE KEY-----\nnew private\n-----END OPENSSH PRIVATE KEY-----\n';
const PUBLIC = 'ssh-ed25519 AAAAnew comment\n';
const modeOf = async (p: string) => (await stat(p)).mode & 0o777;

/** An io whose `failAt`-th mutating call throws; with `crash`, every later call throws too (the process died). */
function failingIo(failAt: number, crash = false): KeyFileIo & { calls: number } {
  let calls = 0;
  let dead = false;
  const wrap =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      calls++;
      if (dead || calls === failAt) {
        if (crash) dead = true;
        throw Object.assign(new Error(`injected failure at call ${calls}`), { code: 'EIO' });
      }
      return fn(...args);
    };
  const io = {
    ...nodeKeyFileIo,
    mkdir: wrap(nodeKeyFileIo.mkdir),
    chmod: wrap(nodeKeyFileIo.chmod),
    writeNewFile: wrap(nodeKeyFileIo.writeNewFile),
    link: wrap(nodeKeyFileIo.link),
    rename: wrap(nodeKeyFileIo.rename),
    unlink: wrap(nodeKeyFileIo.unlink),
    get calls() {
      return calls;
    },
  };
  return io;
}

describe('writeKeyPair', () => {
  it('writes the private key 0600 and the .pub 0644, creating the directory 0700', async () => {
    const file = path.join(dir, 'home', '.ssh', 'id_ed25519');
    const res = await writeKeyPair({ privatePath: file, privateText: PRIVATE, publicText: PUBLIC });
    expect(res.createdDir).toBe(path.join(dir, 'home'));
    expect(await readFile(file, 'utf8')).toBe(PRIVATE);
    expect(await readFile(`${file}.pub`, 'utf8')).toBe(PUBLIC);
    expect(await modeOf(file)).toBe(0o600);
    expect(await modeOf(`${file}.pub`)).toBe(0o644);
    expect(await modeOf(path.dirname(file))).toBe(0o700);
    expect(await readdir(path.dirname(file))).toEqual(['id_ed25519', 'id_ed25519.pub']);
  });

  it('keeps the modes whatever the umask', async () => {
    const old = process.umask(0o000);
    try {
      await writeKeyPair({ privatePath: path.join(dir, 'k', 'id'), privateText: PRIVATE, publicText: PUBLIC });
    } finally {
      process.umask(old);
    }
    expect(await modeOf(path.join(dir, 'k', 'id'))).toBe(0o600);
    expect(await modeOf(path.join(dir, 'k'))).toBe(0o700);
  });

  it('never overwrites the private key or the .pub without force', async () => {
    const file = path.join(dir, 'id');
    await writeFile(file, 'old private');
    await expect(writeKeyPair({ privatePath: file, privateText: PRIVATE, publicText: PUBLIC })).rejects.toEqual(new KeyFileExistsError(file));
    expect(await readFile(file, 'utf8')).toBe('old private');
    expect(await readdir(dir)).toEqual(['id']);

    await rm(file);
    await writeFile(`${file}.pub`, 'old public');
    await expect(writeKeyPair({ privatePath: file, privateText: PRIVATE, publicText: PUBLIC })).rejects.toBeInstanceOf(KeyFileExistsError);
    expect(await readFile(`${file}.pub`, 'utf8')).toBe('old public');
    // The private key it had linked in is taken back: no key without its .pub from this run.
    expect(await readdir(dir)).toEqual(['id.pub']);
    expect(await findExistingKeyFiles(file)).toEqual([`${file}.pub`]);
  });

  it('with force, replaces both files', async () => {
    const file = path.join(dir, 'id');
    await writeFile(file, 'old private', { mode: 0o644 });
    await writeFile(`${file}.pub`, 'old public');
    await writeKeyPair({ privatePath: file, privateText: PRIVATE, publicText: PUBLIC, force: true });
    expect(await readFile(file, 'utf8')).toBe(PRIVATE);
    expect(await readFile(`${file}.pub`, 'utf8')).toBe(PUBLIC);
    expect(await modeOf(file)).toBe(0o600);
  });

  // Count the calls of a clean run, then fail at each one in turn.
  async function callsOfCleanRun(force: boolean): Promise<number> {
    const probe = failingIo(Number.POSITIVE_INFINITY);
    const file = path.join(dir, 'probe', 'id');
    await writeKeyPair({ privatePath: file, privateText: PRIVATE, publicText: PUBLIC, force }, probe);
    await rm(path.join(dir, 'probe'), { recursive: true });
    return probe.calls;
  }

  for (const crash of [false, true]) {
    it(`${crash ? 'a crash' : 'a failure'} at any step leaves no key or the whole new pair, never half a key`, async () => {
      const total = await callsOfCleanRun(false);
      expect(total).toBeGreaterThan(5);
      for (let n = 1; n <= total; n++) {
        const sub = path.join(dir, `run-${n}`);
        const file = path.join(sub, 'ssh', 'id');
        const result = await writeKeyPair({ privatePath: file, privateText: PRIVATE, publicText: PUBLIC }, failingIo(n, crash)).then(
          () => 'ok',
          (err: unknown) => err,
        );
        const names = await readdir(path.dirname(file)).catch(() => [] as string[]);
        const finals = names.filter((x) => x === 'id' || x === 'id.pub').sort();
        if (result === 'ok') {
          // Failing only the clean-up of temp names is harmless.
          expect(finals).toEqual(['id', 'id.pub']);
        } else {
          expect(result).toBeInstanceOf(KeyFileWriteError);
          if (!crash) {
            expect(finals, `failure at call ${n}`).toEqual([]);
            expect(names.filter((x) => x.includes('ferry-tmp')), `temp files after failure at call ${n}`).toEqual([]);
          }
        }
        if (finals.includes('id')) expect(await readFile(file, 'utf8')).toBe(PRIVATE);
        if (finals.includes('id.pub')) {
          expect(finals).toContain('id');
          expect(await readFile(`${file}.pub`, 'utf8')).toBe(PUBLIC);
        }
      }
    });
  }

  it('with force, a failure at any step never leaves a private key next to a .pub of another key', async () => {
    const total = await callsOfCleanRun(true);
    for (let n = 1; n <= total; n++) {
      const file = path.join(dir, `force-${n}`, 'id');
      await mkdir(path.dirname(file));
      await writeFile(file, 'OLD private');
      await writeFile(`${file}.pub`, 'OLD public');
      await writeKeyPair({ privatePath: file, privateText: PRIVATE, publicText: PUBLIC, force: true }, failingIo(n, true)).catch(() => undefined);
      const priv = await readFile(file, 'utf8');
      const pub = await readFile(`${file}.pub`, 'utf8').catch(() => undefined);
      expect([PRIVATE, 'OLD private']).toContain(priv);
      if (pub !== undefined) expect(pub, `after failure at call ${n}`).toBe(priv === PRIVATE ? PUBLIC : 'OLD public');
    }
  });
});

describe('replaceFile', () => {
  it('replaces the file whole, 0600, and leaves the old one on failure', async () => {
    const file = path.join(dir, 'id');
    await writeFile(file, 'old', { mode: 0o600 });
    await expect(replaceFile(file, 'new', 0o600, failingIo(2))).rejects.toBeInstanceOf(KeyFileWriteError);
    expect(await readFile(file, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['id']);
    await replaceFile(file, 'new', 0o600);
    expect(await readFile(file, 'utf8')).toBe('new');
    expect(await modeOf(file)).toBe(0o600);
  });
});
