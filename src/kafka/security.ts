/**
 * How the engine reaches Kafka: plaintext (no settings), TLS, SASL over TLS. One object, given
 * to every client the engine creates and carried by every broker address it connects to itself.
 */
export type SaslMechanism = 'SCRAM-SHA-512' | 'SCRAM-SHA-256' | 'PLAIN';
export const SASL_MECHANISMS: readonly SaslMechanism[] = ['SCRAM-SHA-512', 'SCRAM-SHA-256', 'PLAIN'];

export type SecurityProtocol = 'PLAINTEXT' | 'SSL' | 'SASL_SSL';
export const SECURITY_PROTOCOLS: readonly SecurityProtocol[] = ['PLAINTEXT', 'SSL', 'SASL_SSL'];

export interface SaslCredentials {
  mechanism: SaslMechanism;
  username: string;
  /** Never logged: `describeSecurity` is what logs show. */
  password: string;
}

export interface KafkaSecurity {
  /** TLS to every broker; `ca`: PEM certificates trusted instead of Node's bundled ones. */
  tls?: { ca?: string };
  /** Authentication after the TLS handshake (SASL_SSL); only with `tls`. */
  sasl?: SaslCredentials;
}

export function securityProtocol(security: KafkaSecurity | undefined): SecurityProtocol {
  if (!security?.tls) return 'PLAINTEXT';
  return security.sasl ? 'SASL_SSL' : 'SSL';
}

/** What a log may say about the settings: protocol, mechanism and user, never the password or the CA. */
export function describeSecurity(security: KafkaSecurity | undefined): Record<string, string> {
  const described: Record<string, string> = { protocol: securityProtocol(security) };
  if (security?.sasl) {
    described.mechanism = security.sasl.mechanism;
    described.username = security.sasl.username;
  }
  return described;
}
