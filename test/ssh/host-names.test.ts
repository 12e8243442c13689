import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHostNames } from '../../src/ssh/host-names.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
let home: string;

beforeAll(async () => {
  home = await mkdtemp(path.join(tmpdir(), 'ferry-hostnames-'));
  await mkdir(path.join(home, '.ssh', 'conf.d'), { recursive: true });
  await writeFile(path.join(home, '.ssh', 'config'), [
    'Host web db-*.prod !bad gateway',
    '  HostName 10.0.0.1',
    'Include conf.d/*.conf',
    'Match host extra',
    '  User x',
    'Host *',
    '  ServerAliveInterval 30',
  ].join('\n'));
  await writeFile(path.join(home, '.ssh', 'conf.d', 'a.conf'), 'Host included\n');
  await writeFile(path.join(home, '.ssh', 'known_hosts'), [
    `plain.example.org,10.1.2.3 ${KEY}`,
    `[ported.example]:2222 ${KEY}`,
    `|1|F1E1KeoE/eEWhi10WpGv4OdiO6Y=|3988QV0VE8wmZL7suNrYQLITLCg= ${KEY}`,
    `*.wild.example ${KEY}`,
    `@cert-authority ca.example ${KEY}`,
    `@revoked revoked.example ${KEY}`,
    '# a comment',
  ].join('\n'));
});
afterAll(async () => rm(home, { recursive: true, force: true }));

describe('listHostNames', () => {
  it('offers Host aliases (Include followed) and plain known_hosts names, sorted, nothing else', () => {
    const names = listHostNames({ home, configFile: path.join(home, '.ssh', 'config') });
    expect(names).toEqual(['10.1.2.3', 'gateway', 'included', 'plain.example.org', 'ported.example', 'web']);
  });

  it('-F none reads no config file, only known_hosts', () => {
    expect(listHostNames({ home, configFile: 'none' })).toEqual(['10.1.2.3', 'plain.example.org', 'ported.example']);
  });

  it('a broken config file offers nothing from it, and no error', async () => {
    const bad = path.join(home, 'bad.conf');
    await writeFile(bad, 'Host ok\nHostName "unterminated\n');
    expect(listHostNames({ home, configFile: bad })).toEqual(['10.1.2.3', 'plain.example.org', 'ported.example']);
  });
});
