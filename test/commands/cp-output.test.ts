// What ferry prints: nothing with -q (errors still go to stderr), NDJSON with
// --json, help that documents the exit codes, and the package version.
import * as fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpVia, makeTempDir } from '../support/cp-helpers.js';
import { repoRoot, runFerry } from '../support/run-ferry.js';
import { startSshd, type Sshd } from '../support/sshd.js';

let sd: Sshd;
let work: string;
let cp: ReturnType<typeof cpVia>;

beforeAll(async () => {
  [sd, work] = await Promise.all([startSshd(), makeTempDir('output')]);
  cp = cpVia(sd);
});
afterAll(async () => {
  await sd?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

async function twoFiles(name: string): Promise<string> {
  const dir = await fs.mkdtemp(`${work}/${name}-`);
  await fs.writeFile(`${dir}/a.txt`, 'AAAA\n');
  await fs.writeFile(`${dir}/b.txt`, 'BB\n');
  await fs.mkdir(`${dir}/dst`);
  return dir;
}

function parseNdjson(stdout: string): Record<string, unknown>[] {
  expect(stdout.endsWith('\n')).toBe(true);
  return stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe.concurrent('quiet and default output', () => {
  it('-q prints nothing on success, in either direction', async () => {
    const dir = await twoFiles('quiet');
    const up = await cp(['-q', `${dir}/a.txt`, `127.0.0.1:${dir}/dst/up.txt`]);
    const down = await cp(['-q', `127.0.0.1:${dir}/a.txt`, `${dir}/dst/down.txt`]);
    for (const r of [up, down]) expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await fs.readFile(`${dir}/dst/down.txt`, 'utf8')).toBe('AAAA\n');
  });

  it('-q still reports errors on stderr', async () => {
    const dir = await twoFiles('quiet-error');
    const r = await cp(['-q', `${dir}/missing.txt`, `127.0.0.1:${dir}/dst/x.txt`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('missing.txt');
  });

  it('without a terminal, a successful copy prints nothing on stdout', async () => {
    const dir = await twoFiles('no-tty');
    const r = await cp([`${dir}/a.txt`, `127.0.0.1:${dir}/dst/a.txt`]);
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
  });
});

describe.concurrent('--json', () => {
  it('prints one JSON object per line, ending with a summary', async () => {
    const dir = await twoFiles('json');
    const r = await cp(['--json', `${dir}/a.txt`, `${dir}/b.txt`, `127.0.0.1:${dir}/dst`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const events = parseNdjson(r.stdout);
    expect(events[0]).toMatchObject({ event: 'start', command: 'cp' });
    const files = events.filter((e) => e.event === 'file');
    expect(files.map((f) => [f.src, f.dst, f.bytes]).sort()).toEqual([
      [`${dir}/a.txt`, `${dir}/dst/a.txt`, 5],
      [`${dir}/b.txt`, `${dir}/dst/b.txt`, 3],
    ]);
    expect(events.at(-1)).toMatchObject({ event: 'summary', files: 2, failed: 0, bytes: 8 });
    expect(events.filter((e) => e.event === 'summary')).toHaveLength(1);
  });

  it('reports a failed file as an error event and counts it in the summary', async () => {
    const dir = await twoFiles('json-error');
    const r = await cp(['--json', `127.0.0.1:${dir}/a.txt`, `127.0.0.1:${dir}/missing.txt`, `${dir}/dst`]);
    expect(r.code).toBe(1);
    const events = parseNdjson(r.stdout);
    const errors = events.filter((e) => e.event === 'error');
    expect(errors).toHaveLength(1);
    expect(String(errors[0].message)).toContain('missing.txt');
    expect(events.at(-1)).toMatchObject({ event: 'summary', files: 1, failed: 1, bytes: 5 });
  });
});

describe.concurrent('help and version', () => {
  const codes = ['0', '1', '2', '3', '4', '130'];
  const expectExitCodes = (text: string) => {
    expect(text).toMatch(/exit codes/i);
    for (const c of codes) expect(text).toMatch(new RegExp(`^\\s*${c}\\s+\\S`, 'm'));
  };

  it('ferry --help documents the exit codes', async () => {
    const r = await runFerry(['--help'], { env: process.env });
    expect(r.code).toBe(0);
    expectExitCodes(r.stdout);
    expect(r.stdout).toContain('cp');
  });

  it('ferry cp --help documents the exit codes and operand forms', async () => {
    const r = await runFerry(['cp', '--help'], { env: process.env });
    expect(r.code).toBe(0);
    expectExitCodes(r.stdout);
    for (const word of ['-r', '-p', '-q', '-P', '--json', 'scp://', 'host:']) expect(r.stdout).toContain(word);
  });

  it('--version and -V print the package.json version', async () => {
    const { version } = JSON.parse(await fs.readFile(`${repoRoot}/package.json`, 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await runFerry([flag], { env: process.env });
      expect(r).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });
});
