/**
 * The client side of SCRAM (RFC 5802, with SHA-256 and SHA-512 as RFC 7677 and Kafka's KIP-84 use
 * them): the client-first message, the client-final message with the proof, and the check of the
 * server's signature, so a broker that does not know the password cannot pass for one that does.
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';

export type ScramHash = 'sha256' | 'sha512';

const HASH_BYTES: Record<ScramHash, number> = { sha256: 32, sha512: 64 };
/** Kafka refuses fewer than 4096 iterations; a server asking for fewer is not to be trusted with the password. */
const MIN_ITERATIONS = 4096;

export class ScramError extends Error {
  override name = 'ScramError';
}

/** The salted password is the costly step (PBKDF2): kept per password, salt and count, as connections repeat it. */
const salted = new Map<string, Promise<Buffer>>();

function saltedPassword(hash: ScramHash, password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  const key = createHash('sha256')
    .update(`${hash}\0${iterations}\0${salt.toString('base64')}\0`)
    .update(password)
    .digest('base64');
  let result = salted.get(key);
  if (!result) {
    result = new Promise<Buffer>((resolve, reject) =>
      pbkdf2(password.normalize('NFKC'), salt, iterations, HASH_BYTES[hash], hash, (error, derived) =>
        error ? reject(error) : resolve(derived),
      ),
    );
    result.catch(() => salted.delete(key));
    if (salted.size >= 16) salted.clear();
    salted.set(key, result);
  }
  return result;
}

const hmac = (hash: ScramHash, key: Buffer, text: string) => createHmac(hash, key).update(text).digest();

/** ',' and '=' are escaped in a SCRAM user name (RFC 5802, section 5.1). */
const saslName = (name: string) => name.replace(/=/g, '=3D').replace(/,/g, '=2C');

function attributes(message: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const part of message.split(',')) {
    const eq = part.indexOf('=');
    if (eq === 1) found.set(part[0]!, part.slice(2));
  }
  return found;
}

/** One SCRAM exchange: `first()`, then `final(serverFirst)`, then `verify(serverFinal)`. */
export class ScramClient {
  private readonly firstBare: string;
  private expectedServerSignature: Buffer | undefined;

  constructor(
    private readonly hash: ScramHash,
    username: string,
    private readonly password: string,
    private readonly clientNonce = randomBytes(24).toString('base64url'),
  ) {
    this.firstBare = `n=${saslName(username)},r=${this.clientNonce}`;
  }

  /** client-first-message: no channel binding ("n,,"). */
  first(): string {
    return `n,,${this.firstBare}`;
  }

  /** client-final-message for the server-first-message. */
  async final(serverFirst: string): Promise<string> {
    const server = attributes(serverFirst);
    if (server.has('e')) throw new ScramError(`the server refused: ${server.get('e')}`);
    const nonce = server.get('r');
    const salt = server.get('s');
    const iterations = Number(server.get('i'));
    if (!nonce || !salt || !Number.isInteger(iterations)) throw new ScramError('malformed server-first-message');
    if (!nonce.startsWith(this.clientNonce) || nonce.length === this.clientNonce.length)
      throw new ScramError("the server's nonce does not extend ours");
    if (iterations < MIN_ITERATIONS)
      throw new ScramError(`the server asks for ${iterations} iterations, fewer than ${MIN_ITERATIONS}`);

    const key = await saltedPassword(this.hash, this.password, Buffer.from(salt, 'base64'), iterations);
    const finalWithoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.firstBare},${serverFirst},${finalWithoutProof}`;
    const clientKey = hmac(this.hash, key, 'Client Key');
    const storedKey = createHash(this.hash).update(clientKey).digest();
    const clientSignature = hmac(this.hash, storedKey, authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
    this.expectedServerSignature = hmac(this.hash, hmac(this.hash, key, 'Server Key'), authMessage);
    return `${finalWithoutProof},p=${proof.toString('base64')}`;
  }

  /** Throws unless the server-final-message proves the server knows the password's keys. */
  verify(serverFinal: string): void {
    const server = attributes(serverFinal);
    if (server.has('e')) throw new ScramError(`the server refused: ${server.get('e')}`);
    const signature = Buffer.from(server.get('v') ?? '', 'base64');
    const expected = this.expectedServerSignature;
    if (!expected) throw new ScramError('verify() before final()');
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected))
      throw new ScramError("the server's signature is wrong: it does not know this user's credentials");
  }
}
