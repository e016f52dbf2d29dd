// The headers records carry through a topology. As in Kafka Streams, a record's headers travel with
// what it causes: through stateless operators, repartition topics, aggregates (a held change keeps
// those of the record that last updated it) and joins, to the sinks. Headers named `uis-*` are the
// engine's own (lineage, committed inputs): they are not the application's and are not passed on.
import { lineageHeaders } from './lineage.js';
import type { Header, ProcessorContext } from './types.js';

const ENGINE_HEADER_PREFIX = 'uis-';

/** The application's headers among `headers` (the engine's own left out); undefined when none. */
export function applicationHeaders(headers: readonly Header[] | undefined): readonly Header[] | undefined {
  if (headers === undefined || headers.length === 0) return undefined;
  let own = 0;
  for (const header of headers) if (header.key.startsWith(ENGINE_HEADER_PREFIX)) own++;
  if (own === 0) return headers;
  if (own === headers.length) return undefined;
  return headers.filter((header) => !header.key.startsWith(ENGINE_HEADER_PREFIX));
}

/**
 * The headers of a record a node sends now: those a processor of the Processor API gave the record
 * it forwards, else the application's headers of the input record (or of the held change) being
 * processed; then, if asked, the lineage header.
 */
export function outgoingHeaders(context: ProcessorContext, lineage: boolean): readonly Header[] | undefined {
  const carried = context.forwardedHeaders ?? applicationHeaders(context.origin.headers);
  const own = lineage ? lineageHeaders(context.origin) : undefined;
  if (!own) return carried;
  return carried ? [...carried, ...own] : own;
}
