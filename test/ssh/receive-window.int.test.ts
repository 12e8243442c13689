// The receive window ferry grants each SFTP channel (src/ssh/receive-window.ts)
// against the real sshd and the installed ssh2: more than ssh2's own 2 MiB is
// really kept open while replies stream in, and every reply arrives intact.
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import type { SFTPWrapper } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSsh, type SshConnection } from '../../src/ssh/connect.js';
import { silentPrompter } from '../../src/ssh/prompter.js';
import { SSH2_DEFAULT_WINDOW, widenReceiveWindow } from '../../src/ssh/receive-window.js';
import { makeTempDir } from '../support/cp-helpers.js';
import { startSshd, type Sshd } from '../support/sshd.js';

const MiB = 1024 * 1024;
let sd: Sshd;
let work: string;
let conn: SshConnection;
const data = randomBytes(40 * MiB);

beforeAll(async () => {
  [sd, work] = await Promise.all([startSshd(), makeTempDir('rwin')]);
  await writeFile(`${work}/data.bin`, data);
  conn = await connectSsh({
    alias: sd.host,
    user: sd.user,
    cli: {
      configFile: 'none', port: sd.port,
      options: [`UserKnownHostsFile=${sd.knownHosts}`, 'GlobalKnownHostsFile=none', 'StrictHostKeyChecking=yes', `IdentityFile=${sd.clientKey}`, 'BatchMode=yes'],
    },
    prompter: silentPrompter,
  });
});
afterAll(async () => {
  conn?.end();
  await sd?.stop();
  await rm(work, { recursive: true, force: true });
});

type Internals = { incoming: { window: number } };

function openFile(sftp: SFTPWrapper, path: string): Promise<Buffer> {
  return new Promise((res, rej) => sftp.open(path, 'r', (e, h) => (e ? rej(e) : res(h))));
}

function readAt(sftp: SFTPWrapper, h: Buffer, pos: number, len: number): Promise<Buffer> {
  const buf = Buffer.alloc(len);
  return new Promise((res, rej) => sftp.read(h, buf, 0, len, pos, (e, n) => (e ? rej(e) : res(buf.subarray(0, n)))));
}

describe('receive window', () => {
  it('a new SFTP session has 16 MiB open, and keeps more than 2 MiB open while 40 MiB of replies stream in', async () => {
    const sftp = await conn.openSftp();
    const ch = sftp as unknown as Internals;
    expect(ch.incoming.window).toBe(16 * MiB);
    const h = await openFile(sftp, `${work}/data.bin`);
    let lowest = Infinity;
    const watch = setInterval(() => (lowest = Math.min(lowest, ch.incoming.window)), 0);
    // Every read at once: about 40 MiB asked for on one channel, far past one window.
    const chunk = 255 * 1024;
    const parts = await Promise.all(Array.from({ length: Math.ceil(data.length / chunk) }, (_, i) => readAt(sftp, h, i * chunk, chunk)));
    clearInterval(watch);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    // Sampled while replies used it up (so the watch saw traffic)...
    expect(lowest).toBeLessThan(16 * MiB);
    // ...yet it stayed open past what ssh2 alone allows (it tops up to 2 MiB at most).
    expect(lowest).toBeGreaterThan(SSH2_DEFAULT_WINDOW);
    expect(ch.incoming.window).toBeGreaterThan(8 * MiB);
    sftp.end();
  });

  it('leaves a channel it does not recognise alone', () => {
    expect(widenReceiveWindow({} as SFTPWrapper, 16 * MiB)).toBe(SSH2_DEFAULT_WINDOW);
    const odd = { incoming: { window: 'x' }, outgoing: { id: 1, state: 'open' }, push: () => {}, _protocol: {} };
    expect(widenReceiveWindow(odd as unknown as SFTPWrapper, 16 * MiB)).toBe(SSH2_DEFAULT_WINDOW);
    expect(odd.incoming.window).toBe('x');
  });
});
