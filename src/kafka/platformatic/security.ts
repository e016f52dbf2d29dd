/** @platformatic/kafka's `tls` and `sasl` options for our settings. */
import type { ConsumerOptions } from '@platformatic/kafka';
import type { KafkaSecurity } from '../security.js';

export function platformaticSecurity(
  security: KafkaSecurity | undefined,
): Pick<ConsumerOptions<Buffer, Buffer, Buffer, Buffer>, 'tls' | 'sasl'> {
  if (!security?.tls) return {};
  const tls = security.tls.ca !== undefined ? { ca: security.tls.ca } : {};
  const sasl = security.sasl;
  if (!sasl) return { tls };
  return { tls, sasl: { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password } };
}
