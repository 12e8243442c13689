// The setup timeline: phases end at ssh2's protocol milestones, round trips
// are the turns from sending to hearing back.
import { describe, expect, it } from 'vitest';
import { formatTimeline, SetupTimeline } from '../../src/ssh/timeline.js';

/** ssh2's debug lines for one OpenSSH login and SFTP start, at the given times (ms). */
const TRACE: [number, string][] = [
  [210, 'Socket connected'],
  [210, 'Local ident: \'SSH-2.0-ssh2js1.17.0\''],
  [260, 'Remote ident: \'SSH-2.0-OpenSSH_9.2p1\''],
  [260, 'Outbound: Sending KEXINIT'],
  [310, 'Inbound: Handshake in progress'],
  [310, 'Outbound: Sending KEXECDH_INIT'],
  [360, 'Received DH Reply'],
  [360, 'Inbound: NEWKEYS'],
  [361, 'Outbound: Sending NEWKEYS'],
  [361, 'Handshake completed'],
  [361, 'Outbound: Sending SERVICE_REQUEST (ssh-userauth)'],
  [411, 'Inbound: Received SERVICE_ACCEPT (ssh-userauth)'],
  [412, 'Outbound: Sending USERAUTH_REQUEST (publickey -- check)'],
  [462, 'Inbound: Received USERAUTH_PK_OK'],
  [463, 'Outbound: Sending USERAUTH_REQUEST (publickey)'],
  [513, 'Inbound: Received USERAUTH_SUCCESS'],
  [513, 'Outbound: Sending CHANNEL_OPEN (r:0, session)'],
  [563, 'Inbound: CHANNEL_OPEN_CONFIRMATION (r:0, s:0)'],
  [563, 'Outbound: Sending CHANNEL_REQUEST (r:0, subsystem: sftp)'],
  [613, 'Inbound: CHANNEL_SUCCESS (r:0)'],
  [613, 'Outbound: Sending CHANNEL_DATA (r:0, 9)'],
  [663, 'Inbound: CHANNEL_DATA (r:0, 322)'],
  [663, 'SFTP: Inbound: Received VERSION (v3)'],
];

describe('SetupTimeline', () => {
  it('splits a login into its phases, with the round trips each waited for', () => {
    const t = new SetupTimeline(100);
    t.connecting(150);
    t.feed('Socket connected', 200);
    for (const [at, msg] of TRACE) t.feed(msg, at);
    t.reply('find path', 713);
    t.reply('open', 763);
    const phases = t.finish();
    expect(phases.map((p) => [p.name, Math.round(p.ms), p.roundTrips])).toEqual([
      ['process start', 100, 0],
      ['ferry start-up', 50, 0],
      ['tcp', 50, 1],
      ['ident', 60, 1],
      ['key exchange', 101, 2],
      ['auth', 152, 3],
      ['channel', 50, 1],
      ['subsystem', 50, 1],
      ['sftp init', 50, 1],
      ['find path', 50, 1],
      ['open', 50, 1],
    ]);
    expect(formatTimeline(phases)).toMatch(/^763 ms, 12 round trips: process start 100, ferry start-up 50, tcp 50 \(1\), /);
  });

  it('records nothing once finished, and each request phase once', () => {
    const t = new SetupTimeline(10);
    for (const [at, msg] of TRACE) t.feed(msg, at);
    t.reply('find path', 700);
    t.reply('find path', 710);
    const n = t.finish().length;
    t.reply('open', 800);
    t.feed('Socket connected', 900);
    expect(t.finish()).toHaveLength(n);
  });
});
