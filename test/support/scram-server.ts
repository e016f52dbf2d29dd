// The server side of one SCRAM-SHA-512 exchange, computed as Kafka computes it from the credentials it stores.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

export function scramServer(password: string, iterations = 4096) {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password, salt, iterations, 64, 'sha512');
  const hmac = (key: Buffer, text: string) => createHmac('sha512', key).update(text).digest();
  const storedKey = createHash('sha512').update(hmac(salted, 'Client Key')).digest();
  const serverKey = hmac(salted, 'Server Key');
  let serverFirst = '';
  let clientFirstBare = '';
  return {
    first(clientFirst: string): string {
      clientFirstBare = clientFirst.slice(3);
      const nonce = /r=([^,]+)/.exec(clientFirst)![1]!;
      serverFirst = `r=${nonce}${randomBytes(12).toString('base64')},s=${salt.toString('base64')},i=${iterations}`;
      return serverFirst;
    },
    /** The server-final message if the proof is right, else undefined. */
    final(clientFinal: string): string | undefined {
      const withoutProof = clientFinal.slice(0, clientFinal.indexOf(',p='));
      const proof = Buffer.from(clientFinal.slice(clientFinal.indexOf(',p=') + 3), 'base64');
      const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
      const signature = hmac(storedKey, authMessage);
      const clientKey = Buffer.from(proof.map((b, i) => b ^ signature[i]!));
      if (!createHash('sha512').update(clientKey).digest().equals(storedKey)) return undefined;
      return `v=${hmac(serverKey, authMessage).toString('base64')}`;
    },
  };
}
