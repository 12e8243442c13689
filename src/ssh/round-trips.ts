/**
 * Round trips ssh2 spends in authentication that the protocol does not need.
 * Both changes reach into ssh2's Protocol object (its public API has no
 * switch for them); each falls back to ssh2's own behaviour when that object
 * does not look as expected. Both happen after the key exchange, so the host
 * key is always verified before any authentication data is sent.
 *
 * - The userauth service request waits for its SERVICE_ACCEPT before the
 *   first USERAUTH_REQUEST goes out. Servers handle messages in order (RFC
 *   4253 section 10 names no other rule), so the request can follow at once.
 * - A public key is offered first and signed only after the server's PK_OK:
 *   a round trip per key. For a key that signs without asking anybody (an
 *   unencrypted identity file, or the agent's), the signed request goes out
 *   at once, as RFC 4252 section 7 allows; a refused key costs the same one
 *   round trip the query would have.
 */
import type { Client } from 'ssh2';

/** What signs for the key being tried, and whether it can do so without a prompt. */
export interface FirstTrySigner {
  signsFirst?: boolean;
  sign(key: unknown, data: Buffer, options: { hash?: string }, cb: (err: Error | undefined, sig?: Buffer) => void): void;
}

type SignCallback = (buf: Buffer, cb: (sig: Buffer) => void) => void;

interface ProtocolInternals {
  service?: (name: string) => void;
  authPK?: (user: string, key: unknown, keyAlgo?: string, cbSign?: SignCallback) => void;
  _handlers?: { SERVICE_ACCEPT?: (self: unknown, name: string) => void };
}

/** The hash an RSA signature algorithm names; other key types have their own. */
function hashOf(keyAlgo: string | undefined): string | undefined {
  if (keyAlgo === 'rsa-sha2-256') return 'sha256';
  if (keyAlgo === 'rsa-sha2-512') return 'sha512';
  return undefined;
}

/**
 * Install both shortcuts on a client whose connect() has been called.
 * `signer()` is the agent of the method being tried now, if any.
 */
export function cutAuthRoundTrips(client: Client, signer: () => FirstTrySigner | undefined, debug: (msg: string) => void): void {
  const proto = (client as unknown as { _protocol?: ProtocolInternals })._protocol;
  if (!proto || typeof proto.service !== 'function' || typeof proto.authPK !== 'function' || !proto._handlers) return;
  const handlers = proto._handlers;

  const service = proto.service.bind(proto);
  let pipelined = false;
  proto.service = (name: string) => {
    service(name);
    const accept = handlers.SERVICE_ACCEPT;
    if (name !== 'ssh-userauth' || pipelined || !accept) return;
    pipelined = true;
    // Start authentication now, and let the server's accept, when it comes, do nothing more.
    handlers.SERVICE_ACCEPT = (_self, accepted) => {
      handlers.SERVICE_ACCEPT = accept;
      if (accepted !== 'ssh-userauth') accept(proto, accepted);
    };
    debug('userauth request sent without waiting for SERVICE_ACCEPT');
    accept(proto, 'ssh-userauth');
  };

  const authPK = proto.authPK.bind(proto);
  proto.authPK = (user, key, keyAlgo, cbSign) => {
    const agent = signer();
    if (cbSign || !agent?.signsFirst) return authPK(user, key, keyAlgo, cbSign);
    authPK(user, key, keyAlgo, (buf, send) => {
      agent.sign(key, buf, { hash: hashOf(keyAlgo) }, (err, sig) => {
        // ssh2 sends nothing until this callback is called: on a signing error, ask first as usual.
        if (err || !sig) authPK(user, key, keyAlgo);
        else send(sig);
      });
    });
  };
}
