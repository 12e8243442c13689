import { ed25519KeyPair } from '../support/ed25519.js';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import type { ParsedKey, PublicKeyAuthMethod, SFTPWrapper, Stats } from 'ssh2';
import { startEmbeddedServer, type EmbeddedServer } from '../../src/embedded/sftp-server.js';

const { Client, utils } = ssh2;
const STATUS = utils.sftp.STATUS_CODE;
const USER = 'ferry';

const hostKeys = ed25519KeyPair();
const clientKeys = ed25519KeyPair('ferry-test');
const strangerKeys = ed25519KeyPair();

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** ssh2's hostVerifier gets the raw public key blob; compare it with the host key we generated. */
function expectedHostBlob(): Buffer {
  const parsed = utils.parseKey(hostKeys.public);
  if (parsed instanceof Error) throw parsed;
  return parsed.getPublicSSH();
}

interface Session {
  client: InstanceType<typeof Client>;
  sftp: SFTPWrapper;
}

function connect(port: number, privateKey: string | ParsedKey): Promise<Session> {
  const hostBlob = expectedHostBlob();
  const publickey: PublicKeyAuthMethod = { type: 'publickey', username: USER, key: privateKey };
  return new Promise((resolve, reject) => {
    const client = new Client();
    client
      .on('ready', () => {
        client.sftp((err, sftp) => (err ? reject(err) : resolve({ client, sftp })));
      })
      .on('error', reject)
      .connect({
        host: '127.0.0.1',
        port,
        username: USER,
        // authHandler (unlike the privateKey option) also accepts an already parsed key.
        authHandler: [publickey],
        hostVerifier: (key: Buffer) => key.equals(hostBlob),
        readyTimeout: 10_000,
      });
  });
}

// Thin promise wrappers over the ssh2 callback API.
const p = {
  mkdir: (s: SFTPWrapper, dir: string) => new Promise<void>((ok, ko) => s.mkdir(dir, (e) => (e ? ko(e) : ok()))),
  fastPut: (s: SFTPWrapper, local: string, remote: string) =>
    new Promise<void>((ok, ko) => s.fastPut(local, remote, (e) => (e ? ko(e) : ok()))),
  fastGet: (s: SFTPWrapper, remote: string, local: string) =>
    new Promise<void>((ok, ko) => s.fastGet(remote, local, (e) => (e ? ko(e) : ok()))),
  readdir: (s: SFTPWrapper, dir: string) =>
    new Promise<string[]>((ok, ko) => s.readdir(dir, (e, list) => (e ? ko(e) : ok(list.map((f) => f.filename).sort())))),
  stat: (s: SFTPWrapper, file: string) => new Promise<Stats>((ok, ko) => s.stat(file, (e, st) => (e ? ko(e) : ok(st)))),
  rename: (s: SFTPWrapper, a: string, b: string) => new Promise<void>((ok, ko) => s.rename(a, b, (e) => (e ? ko(e) : ok()))),
  utimes: (s: SFTPWrapper, file: string, t: number) =>
    new Promise<void>((ok, ko) => s.setstat(file, { atime: t, mtime: t }, (e) => (e ? ko(e) : ok()))),
  realpath: (s: SFTPWrapper, file: string) =>
    new Promise<string>((ok, ko) => s.realpath(file, (e, r) => (e ? ko(e) : ok(r)))),
  readFile: (s: SFTPWrapper, file: string) =>
    new Promise<Buffer>((ok, ko) => s.readFile(file, (e, d) => (e ? ko(e) : ok(d)))),
};

/** Resolves to the SFTP status code of a failing call. */
function statusOf(call: Promise<unknown>): Promise<number | undefined> {
  return call.then(
    () => undefined,
    (err: { code?: number }) => err.code,
  );
}

describe('embedded SFTP server', () => {
  let tmp: string;
  let root: string;
  let server: EmbeddedServer;

  beforeAll(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-embedded-'));
    root = path.join(tmp, 'root');
    await fs.mkdir(path.join(root, 'etc'), { recursive: true });
    await fs.writeFile(path.join(root, 'etc', 'passwd'), 'inside-the-root\n');
    await fs.writeFile(path.join(tmp, 'outside.txt'), 'secret\n');
    await fs.symlink(path.join(tmp, 'outside.txt'), path.join(root, 'escape-link'));
    server = await startEmbeddedServer({
      root,
      hostKey: hostKeys.private,
      authorizedKey: clientKeys.public,
      username: USER,
    });
  });

  afterAll(async () => {
    await server?.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('moves a 1 MiB file both ways and supports the common operations', async () => {
    const { client, sftp } = await connect(server.port, clientKeys.private);
    try {
      const payload = randomBytes(1024 * 1024);
      const src = path.join(tmp, 'src.bin');
      const back = path.join(tmp, 'back.bin');
      await fs.writeFile(src, payload);

      expect(await p.realpath(sftp, '.')).toBe('/');
      await p.mkdir(sftp, '/data');
      await p.fastPut(sftp, src, '/data/blob.bin');
      expect(sha256(await fs.readFile(path.join(root, 'data', 'blob.bin')))).toBe(sha256(payload));

      await p.fastGet(sftp, 'data/blob.bin', back);
      expect(sha256(await fs.readFile(back))).toBe(sha256(payload));

      expect(await p.readdir(sftp, '/data')).toEqual(['blob.bin']);
      const st = await p.stat(sftp, '/data/blob.bin');
      expect(st.size).toBe(payload.length);
      expect(st.isFile()).toBe(true);
      expect((await p.stat(sftp, '/data')).isDirectory()).toBe(true);

      await p.rename(sftp, '/data/blob.bin', '/data/renamed.bin');
      expect(await p.readdir(sftp, 'data')).toEqual(['renamed.bin']);

      const mtime = 1_600_000_000;
      await p.utimes(sftp, '/data/renamed.bin', mtime);
      expect((await p.stat(sftp, '/data/renamed.bin')).mtime).toBe(mtime);
      expect(Math.floor((await fs.stat(path.join(root, 'data', 'renamed.bin'))).mtimeMs / 1000)).toBe(mtime);

      expect(await statusOf(p.stat(sftp, '/no/such/file'))).toBe(STATUS.NO_SUCH_FILE);
    } finally {
      client.end();
    }
  });

  it('refuses to overwrite with plain RENAME (SFTP v3 semantics)', async () => {
    const { client, sftp } = await connect(server.port, clientKeys.private);
    try {
      await fs.writeFile(path.join(root, 'a.txt'), 'a');
      await fs.writeFile(path.join(root, 'b.txt'), 'b');
      expect(await statusOf(p.rename(sftp, 'a.txt', 'b.txt'))).toBe(STATUS.FAILURE);
      expect(await fs.readFile(path.join(root, 'b.txt'), 'utf8')).toBe('b');
    } finally {
      client.end();
    }
  });

  it('handles posix-rename@openssh.com (replacing the target) when a client sends it', async () => {
    const { client, sftp } = await connect(server.port, clientKeys.private);
    try {
      await fs.writeFile(path.join(root, 'new.txt'), 'new');
      await fs.writeFile(path.join(root, 'old.txt'), 'old');
      // ssh2's server cannot advertise extensions in its VERSION packet, so ssh2's
      // client refuses to send this one; pretend it was advertised.
      (sftp as unknown as { _extensions: Record<string, string> })._extensions['posix-rename@openssh.com'] = '1';
      await new Promise<void>((ok, ko) => sftp.ext_openssh_rename('new.txt', 'old.txt', (e) => (e ? ko(e) : ok())));
      expect(await fs.readFile(path.join(root, 'old.txt'), 'utf8')).toBe('new');
      expect(existsSync(path.join(root, 'new.txt'))).toBe(false);
    } finally {
      client.end();
    }
  });

  it('confines every path to the root', async () => {
    const { client, sftp } = await connect(server.port, clientKeys.private);
    try {
      expect(await p.realpath(sftp, '../../..')).toBe('/');
      expect(await p.realpath(sftp, '../../etc/passwd')).toBe('/etc/passwd');
      for (const escapee of ['../../etc/passwd', '/etc/passwd', '/../../../etc/passwd']) {
        expect((await p.readFile(sftp, escapee)).toString()).toBe('inside-the-root\n');
      }
      expect(await statusOf(p.readFile(sftp, '/escape-link'))).toBe(STATUS.PERMISSION_DENIED);
      expect(await statusOf(p.stat(sftp, '/escape-link'))).toBe(STATUS.PERMISSION_DENIED);
    } finally {
      client.end();
    }
  });

  it('refuses a client key that is not the authorized one', async () => {
    const err = await connect(server.port, strangerKeys.private).then(
      (s) => {
        s.client.end();
        return undefined;
      },
      (e: Error & { level?: string }) => e,
    );
    expect(err?.level).toBe('client-authentication');
  });

  it('refuses the authorized public key when the signature comes from another key', async () => {
    const forged = utils.parseKey(strangerKeys.private);
    const authorized = utils.parseKey(clientKeys.public);
    if (forged instanceof Error || authorized instanceof Error) throw new Error('key parse failed');
    // Present the authorized public key, but sign with the stranger's private key.
    forged.getPublicSSH = () => authorized.getPublicSSH();
    const err = await connect(server.port, forged).then(
      (s) => {
        s.client.end();
        return undefined;
      },
      (e: Error & { level?: string }) => e,
    );
    expect(err?.level).toBe('client-authentication');
  });

  it('interoperates with the OpenSSH sftp client', async (ctx) => {
    if (!existsSync('/usr/bin/sftp')) return ctx.skip();
    const home = path.join(tmp, 'home');
    await fs.mkdir(home, { mode: 0o700 });
    const keyFile = path.join(home, 'id_ed25519');
    const pk = clientKeys.private.endsWith('\n') ? clientKeys.private : `${clientKeys.private}\n`;
    await fs.writeFile(keyFile, pk, { mode: 0o600 });

    const payload = randomBytes(300 * 1024 + 7);
    const local = path.join(tmp, 'openssh-up.bin');
    const fetched = path.join(tmp, 'openssh-down.bin');
    await fs.writeFile(local, payload);
    const batch = path.join(home, 'batch');
    await fs.writeFile(
      batch,
      [`mkdir /ossh`, `put ${local} /ossh/up.bin`, `ls -l /ossh`, `get /ossh/up.bin ${fetched}`, ''].join('\n'),
    );

    const { stdout } = await promisify(execFile)(
      '/usr/bin/sftp',
      [
        '-b', batch,
        '-F', '/dev/null',
        '-o', 'StrictHostKeyChecking=no',
        '-o', 'UserKnownHostsFile=/dev/null',
        '-o', 'IdentitiesOnly=yes',
        '-o', 'LogLevel=ERROR',
        '-i', keyFile,
        '-P', String(server.port),
        `${USER}@127.0.0.1`,
      ],
      { env: { ...process.env, HOME: home }, timeout: 30_000 },
    );
    expect(stdout).toMatch(/up\.bin/);
    expect(sha256(await fs.readFile(path.join(root, 'ossh', 'up.bin')))).toBe(sha256(payload));
    expect(sha256(await fs.readFile(fetched))).toBe(sha256(payload));
  });
});
