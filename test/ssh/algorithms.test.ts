// OpenSSH's +/-/^ algorithm list syntax over the algorithms ssh2 implements.
import { describe, expect, it } from 'vitest';
import { assembleAlgorithms, defaultAlgorithms, hostKeyAlgorithmsForKeyType, supportedAlgorithms } from '../../src/ssh/algorithms.js';

const ciphers = defaultAlgorithms('cipher');

describe('assembleAlgorithms', () => {
  it('a plain list replaces the default, in the order given', () => {
    expect(assembleAlgorithms('cipher', 'aes256-ctr,aes128-ctr')).toEqual({ list: ['aes256-ctr', 'aes128-ctr'], unsupported: [] });
  });

  it('+ appends to the default without duplicates', () => {
    const { list } = assembleAlgorithms('cipher', '+aes128-cbc,aes128-ctr');
    expect(list).toEqual([...ciphers, 'aes128-cbc']);
  });

  it('^ puts the list in front of the default', () => {
    const { list } = assembleAlgorithms('cipher', '^aes256-ctr,aes128-cbc');
    expect(list.slice(0, 2)).toEqual(['aes256-ctr', 'aes128-cbc']);
    expect(list.slice(2)).toEqual(ciphers.filter((c) => c !== 'aes256-ctr'));
  });

  it('- removes patterns from the default', () => {
    const { list } = assembleAlgorithms('cipher', '-aes*-gcm@openssh.com,chacha20*');
    expect(list).toEqual(ciphers.filter((c) => !c.endsWith('-gcm@openssh.com') && !c.startsWith('chacha20')));
  });

  it('patterns expand over what ssh2 supports, in its order', () => {
    const { list } = assembleAlgorithms('kex', 'diffie-hellman-group1?-sha512');
    expect(list).toEqual(supportedAlgorithms('kex').filter((k) => /^diffie-hellman-group1\d-sha512$/.test(k)));
    expect(list.length).toBeGreaterThan(1);
  });

  it('names ssh2 does not implement are reported and dropped', () => {
    expect(assembleAlgorithms('kex', 'sntrup761x25519-sha512@openssh.com,curve25519-sha256')).toEqual({
      list: ['curve25519-sha256'],
      unsupported: ['sntrup761x25519-sha512@openssh.com'],
    });
    expect(assembleAlgorithms('hmac', 'umac-64@openssh.com').list).toEqual([]);
  });

  it('host key and MAC lists work the same way', () => {
    expect(assembleAlgorithms('serverHostKey', 'ssh-ed25519').list).toEqual(['ssh-ed25519']);
    expect(assembleAlgorithms('hmac', '^hmac-sha1').list[0]).toBe('hmac-sha1');
  });
});

describe('hostKeyAlgorithmsForKeyType', () => {
  it('an ssh-rsa key can be presented by the SHA-2 signature algorithms too', () => {
    expect(hostKeyAlgorithmsForKeyType('ssh-rsa')).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    expect(hostKeyAlgorithmsForKeyType('ssh-ed25519')).toEqual(['ssh-ed25519']);
  });
});
