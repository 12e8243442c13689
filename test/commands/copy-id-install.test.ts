// The authorized_keys install step over the endpoint interface, on local
// files (the sshd suite in copy-id.test.ts runs it over SFTP).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspectAuthorizedKeys, writeAuthorizedKeys } from '../../src/commands/copy-id-install.js';
import { FileError } from '../../src/errors.js';
import type { FileHandle } from '../../src/transfer/endpoint.js';
import { LocalEndpoint } from '../../src/transfer/local.js';

let home: string;
let sshDir: string;
beforeEach(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), 'ferry-cid-local-'));
  sshDir = path.join(home, '.ssh');
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

const ep = new LocalEndpoint();
const modeOf = async (p: string) => (await stat(p)).mode & 0o777;

describe('copy-id install step', () => {
  it('creates ~/.ssh 0700 and authorized_keys 0600 when missing, leaving no temporary file', async () => {
    const state = await inspectAuthorizedKeys(ep, sshDir);
    expect(state.dirExists).toBe(false);
    expect(state.mode).toBeUndefined();
    expect(state.content.length).toBe(0);
    await writeAuthorizedKeys(ep, state, Buffer.from('line\n'));
    expect(await modeOf(sshDir)).toBe(0o700);
    expect(await modeOf(state.file)).toBe(0o600);
    expect(await readFile(state.file, 'utf8')).toBe('line\n');
    expect(await readdir(sshDir)).toEqual(['authorized_keys']);
  });

  it('keeps the old file\'s mode and reads it whole, past one read request', async () => {
    await mkdir(sshDir, { mode: 0o700 });
    const big = 'x'.repeat(600 * 1024) + '\nlast';
    await writeFile(path.join(sshDir, 'authorized_keys'), big, { mode: 0o640 });
    const state = await inspectAuthorizedKeys(ep, sshDir);
    expect(state.content.toString()).toBe(big);
    await writeAuthorizedKeys(ep, state, Buffer.from('new\n'));
    expect(await modeOf(state.file)).toBe(0o640);
  });

  it('refuses a symlinked authorized_keys or ~/.ssh, and changes nothing', async () => {
    await mkdir(sshDir, { mode: 0o700 });
    await writeFile(path.join(home, 'target'), 'keep\n');
    await symlink('../target', path.join(sshDir, 'authorized_keys'));
    await expect(inspectAuthorizedKeys(ep, sshDir)).rejects.toThrow(/authorized_keys": is a symbolic link/);
    await rm(sshDir, { recursive: true });
    await mkdir(path.join(home, 'real'));
    await symlink('real', sshDir);
    const err = await inspectAuthorizedKeys(ep, sshDir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileError);
    expect((err as FileError).message).toMatch(/\.ssh": is a symbolic link/);
    expect(await readFile(path.join(home, 'target'), 'utf8')).toBe('keep\n');
    expect((await lstat(sshDir)).isSymbolicLink()).toBe(true);
  });

  it('warns when sshd (StrictModes) would ignore the file', async () => {
    await mkdir(sshDir, { mode: 0o700 });
    await (await import('node:fs/promises')).chmod(sshDir, 0o770);
    const state = await inspectAuthorizedKeys(ep, sshDir);
    expect(state.warnings.join('\n')).toMatch(/\.ssh" is writable by group or others \(mode 0770\)/);
  });

  it('a failed write leaves the old file intact and removes the temporary file', async () => {
    await mkdir(sshDir, { mode: 0o700 });
    await writeFile(path.join(sshDir, 'authorized_keys'), 'old\n', { mode: 0o600 });
    class FailingWrite extends LocalEndpoint {
      override async write(h: FileHandle): Promise<void> {
        throw new FileError('write', 'local', h.path, 'No space left on device');
      }
    }
    const failing = new FailingWrite();
    const state = await inspectAuthorizedKeys(failing, sshDir);
    await expect(writeAuthorizedKeys(failing, state, Buffer.from('old\nnew\n'))).rejects.toThrow(/No space left/);
    expect(await readFile(state.file, 'utf8')).toBe('old\n');
    expect(await readdir(sshDir)).toEqual(['authorized_keys']);
  });
});
