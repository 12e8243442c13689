/**
 * Opens the endpoint for each operand: the local disk, or an SFTP session on
 * a connection shared by every operand naming the same user, host and port.
 */
import type { SshCliOptions } from '../ssh/config.js';
import { connectSsh, type SshConnection } from '../ssh/connect.js';
import type { Prompter } from '../ssh/prompter.js';
import type { Endpoint } from '../transfer/endpoint.js';
import { LocalEndpoint } from '../transfer/local.js';
import { SftpEndpoint } from '../transfer/sftp.js';
import { hostKey, type Location } from './location.js';

export class Endpoints {
  private readonly local = new LocalEndpoint();
  private readonly remotes = new Map<string, Promise<{ conn: SshConnection; ep: SftpEndpoint }>>();

  constructor(private readonly cli: SshCliOptions, private readonly prompter: Prompter, private readonly trace = false) {}

  async get(loc: Location): Promise<Endpoint> {
    if (loc.kind === 'local') return this.local;
    const key = hostKey(loc);
    let p = this.remotes.get(key);
    if (!p) {
      p = (async () => {
        const conn = await connectSsh({
          alias: loc.host,
          user: loc.user,
          cli: { ...this.cli, port: loc.port ?? this.cli.port },
          prompter: this.prompter,
          traceProtocol: this.trace,
        });
        try {
          return { conn, ep: new SftpEndpoint(await conn.openSftp(), { label: conn.settings.hostName }) };
        } catch (err) {
          conn.end();
          throw err;
        }
      })();
      this.remotes.set(key, p);
    }
    return (await p).ep;
  }

  async closeAll(): Promise<void> {
    const all = await Promise.allSettled(this.remotes.values());
    for (const r of all) {
      if (r.status === 'fulfilled') {
        await r.value.ep.end();
        r.value.conn.end();
      }
    }
    this.remotes.clear();
  }
}
