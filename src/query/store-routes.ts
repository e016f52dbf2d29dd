/**
 * A fastify plugin that serves a KafkaStreams instance's key-value stores over HTTP, any store by
 * name: a key (from the instance that owns it, forwarded there when another does), where a key
 * lives (the key-to-owner metadata), and ranges of keys gathered from every partition, wherever
 * each runs, a page at a time with a continuation token. A range that could not reach a partition
 * says so (`partial`, `missingPartitions`) rather than answering as if it were whole.
 *
 * Requests are forwarded only to the members the group's assignment names as owners, never to a
 * host a request names; a forwarded request is answered where it lands or refused (no second hop).
 *
 *   GET <prefix>/:store/keys/:key
 *   GET <prefix>/:store/metadata/:key
 *   GET <prefix>/:store/range?from=&to=&prefix=&reverse=true&limit=&after=
 *   GET <prefix>/:store/partitions/:partition/range?...   (one partition, local only: the gather's hop)
 *   GET <prefix>/:store/keys/:key/windows?from=&to=&limit=   (a window or session store: a key's windows)
 *
 * A global store (GlobalKTable) is answered where it is asked: every instance holds all of it.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { KafkaStreams } from '../runtime/kafka-streams.js';
import type { RangeQuery } from '../state/range-query.js';
import { stringifyJson } from '../serdes/json.js';
import { INSTANCE_STARTING, placeKey } from './key-placement.js';
import { queryableStores, type QueryableStores, type StoreRow } from './queryable-stores.js';
import type { WindowedStoreLayout } from '../dsl/graph.js';
import { valueAndTimestampSerde, windowRowsSerde, type WindowRow } from '../serdes/windowed.js';

export interface StoreRoutesOptions {
  /** The instance whose stores are served: a KafkaStreams, or any QueryableStores (the service's serving thread). */
  streams: KafkaStreams | QueryableStores;
  /** Where the routes are (default `/stores`). */
  prefix?: string;
  /** The stores served (default: every store of the topology). */
  stores?: readonly string[];
  /**
   * How a key in a URL becomes a store key, per store (default: the string itself, for string
   * keys; a store with other keys needs one, e.g. `BigInt` or `JSON.parse`).
   */
  parseKey?: Record<string, (text: string) => unknown>;
  /** The most rows a range answers at once (default 1000). */
  maxLimit?: number;
  /** How long a forwarded request may take (default 2000 ms). */
  forwardTimeoutMs?: number;
  /**
   * Headers added to the requests forwarded to other instances (e.g. a signature they check); the
   * marker that stops a second hop is added either way.
   */
  forwardHeaders?: (path: string) => Record<string, string>;
}

const FORWARDED = 'x-uis-store-forwarded';
const STARTING = `${INSTANCE_STARTING}; retry`;

interface RangeParams {
  from?: string;
  to?: string;
  prefix?: string;
  reverse?: string;
  limit?: string;
  after?: string;
}

interface WindowParams {
  from?: string;
  to?: string;
  limit?: string;
}

class BadRequest extends Error {}

// For the OpenAPI document (src/serving/openapi.ts); every parameter stays a string, checked by the handlers.
const text = { type: 'string' } as const;
const keySchema = (summary: string) => ({
  schema: {
    tags: ['stores'],
    summary,
    params: { type: 'object', properties: { store: text, key: text }, required: ['store', 'key'] },
  },
});
const rangeSchema = (summary: string, onePartition = false) => ({
  schema: {
    tags: ['stores'],
    summary,
    params: {
      type: 'object',
      properties: { store: text, ...(onePartition ? { partition: text } : {}) },
      required: onePartition ? ['store', 'partition'] : ['store'],
    },
    querystring: {
      type: 'object',
      properties: { from: text, to: text, prefix: text, reverse: text, limit: text, after: text },
    },
  },
});

const windowsSchema = {
  schema: {
    tags: ['stores'],
    summary: "A key's windows (window or session store) in a time range, from the instance that owns it",
    params: { type: 'object', properties: { store: text, key: text }, required: ['store', 'key'] },
    querystring: { type: 'object', properties: { from: text, to: text, limit: text } },
  },
};

export async function storeRoutes(app: FastifyInstance, options: StoreRoutesOptions): Promise<void> {
  const streams = 'topology' in options.streams ? queryableStores(options.streams) : options.streams;
  const prefix = options.prefix ?? '/stores';
  const maxLimit = options.maxLimit ?? 1000;
  const forwardTimeoutMs = options.forwardTimeoutMs ?? 2000;
  const globals = new Set([...streams.stores].filter(([, store]) => store.global).map(([name]) => name));
  const served = new Set(options.stores ?? streams.stores.keys());
  for (const name of served) if (!streams.stores.has(name)) throw new Error(`storeRoutes: no store named ${name}`);

  const storeOf = (name: string) => (served.has(name) ? streams.stores.get(name) : undefined);
  const keyBytes = (store: string, text: string): Buffer => {
    const parse = options.parseKey?.[store] ?? ((s: string) => s);
    let key: unknown;
    try {
      key = parse(text);
      return storeOf(store)!.keySerde.serialize(key);
    } catch (error) {
      throw new BadRequest(`key "${text}" is not a key of store ${store}: ${(error as Error).message}`);
    }
  };
  const send = (reply: FastifyReply, status: number, body: unknown) =>
    reply.code(status).type('application/json; charset=utf-8').send(stringifyJson(body));
  const fail = (reply: FastifyReply, status: number, error: string) => send(reply, status, { error });
  const forwarded = (request: FastifyRequest) => request.headers[FORWARDED] !== undefined;

  /** GET from a member: only owners named by the assignment are asked. */
  const fromMember = async (owner: string, path: string): Promise<Response> =>
    fetch(`http://${owner}${path}`, {
      headers: { ...options.forwardHeaders?.(path), [FORWARDED]: streams.endpoint },
      signal: AbortSignal.timeout(forwardTimeoutMs),
    });

  /** Answers with the owner's answer to the same request (`where`: the partition, for errors). */
  const relay = async (reply: FastifyReply, owner: string, url: string, where: string) => {
    try {
      const answer = await fromMember(owner, url);
      return reply
        .code(answer.status)
        .type(answer.headers.get('content-type') ?? 'application/json')
        .send(Buffer.from(await answer.arrayBuffer()));
    } catch (error) {
      return fail(reply, 502, `the owner of ${where} did not answer: ${(error as Error).message}`);
    }
  };

  app.get<{ Params: { store: string; key: string } }>(
    `${prefix}/:store/keys/:key`,
    keySchema('The row of a key, from the instance that owns it'),
    async (request, reply) => {
      const { store, key } = request.params;
      const spec = storeOf(store);
      if (!spec) return fail(reply, 404, `no store named ${store} is served here`);
      if (spec.windows) return fail(reply, 400, `${store} keeps windows: ask ${prefix}/${store}/keys/:key/windows`);
      const bytes = keyBytes(store, key);
      if (globals.has(store)) {
        const value = streams.getGlobal(store, bytes);
        if (value === undefined) return fail(reply, 404, `no row for key ${key} in ${store}`);
        return send(reply, 200, { key: spec.keySerde.deserialize(bytes), value: spec.valueSerde.deserialize(value) });
      }
      const placement = placeKey(streams.keyMetadata(store, bytes), streams.endpoint);
      const where = placement.partition === undefined ? store : `partition ${placement.partition} of ${store}`;
      if (placement.kind === 'local') {
        const value = streams.getLocal(store, placement.partition, bytes);
        if (value !== undefined)
          return send(reply, 200, { key: spec.keySerde.deserialize(bytes), value: spec.valueSerde.deserialize(value) });
        // Before the task caught up with its input, a missing row may only not have arrived yet.
        if (!placement.caughtUp) return fail(reply, 503, `${where}: the partition is catching up; retry`);
        return fail(reply, 404, `no row for key ${key} in ${store}`);
      }
      if (placement.kind === 'unavailable') return fail(reply, 503, `${where}: ${placement.reason}; retry`);
      if (forwarded(request)) return fail(reply, 503, `${where}: its owner moved; retry`);
      return relay(reply, placement.owner, request.url, where);
    },
  );

  app.get<{ Params: { store: string; key: string }; Querystring: WindowParams }>(
    `${prefix}/:store/keys/:key/windows`,
    windowsSchema,
    async (request, reply) => {
      const { store, key } = request.params;
      const layout = storeOf(store)?.windows;
      if (!storeOf(store)) return fail(reply, 404, `no store named ${store} is served here`);
      if (!layout)
        return fail(reply, 400, `${store} is not a window or session store: ask ${prefix}/${store}/keys/:key`);
      const { from, to, limit } = windowQuery(request.query);
      const inner = groupKeyBytes(store, layout, key);
      const placement = placeKey(streams.keyMetadata(store, inner), streams.endpoint);
      const where = placement.partition === undefined ? store : `partition ${placement.partition} of ${store}`;
      if (placement.kind === 'unavailable') return fail(reply, 503, `${where}: ${placement.reason}; retry`);
      if (placement.kind === 'remote') {
        if (forwarded(request)) return fail(reply, 503, `${where}: its owner moved; retry`);
        return relay(reply, placement.owner, request.url, where);
      }
      const windows = await localWindows(
        streams,
        store,
        placement.partition!,
        layout,
        inner,
        from,
        to,
        limit,
        maxLimit,
      );
      return send(reply, 200, { key: layout.keySerde.deserialize(inner), windows });
    },
  );

  app.get<{ Params: { store: string; key: string } }>(
    `${prefix}/:store/metadata/:key`,
    keySchema('Where a key lives: its partition, owner and standby copies'),
    async (request, reply) => {
      const { store, key } = request.params;
      if (!storeOf(store)) return fail(reply, 404, `no store named ${store} is served here`);
      if (globals.has(store)) {
        // A global store is whole on every instance.
        keyBytes(store, key);
        return send(reply, 200, { global: true, owner: streams.endpoint, local: true, status: 'running' });
      }
      const meta = streams.keyMetadata(store, keyBytes(store, key));
      if (!meta) return fail(reply, 503, STARTING);
      return send(reply, 200, {
        partition: meta.partition,
        taskId: meta.taskId,
        owner: meta.owner ?? null,
        local: meta.local,
        status: meta.status ?? null,
        caughtUp: meta.caughtUp,
        standbyHosts: meta.standbyHosts,
      });
    },
  );

  app.get<{ Params: { store: string; partition: string }; Querystring: RangeParams }>(
    `${prefix}/:store/partitions/:partition/range`,
    rangeSchema("One partition's rows in a range, from this instance's copy only (a range's hop to an owner)", true),
    async (request, reply) => {
      const { store } = request.params;
      if (!storeOf(store)) return fail(reply, 404, `no store named ${store} is served here`);
      if (globals.has(store)) return fail(reply, 400, `${store} is a global store: it has no partitions to ask for`);
      const partition = Number(request.params.partition);
      const query = rangeQuery(store, request.query);
      const meta = streams.storePartitions(store)[partition];
      if (!meta) return fail(reply, 400, `store ${store} has no partition ${request.params.partition}`);
      if (!meta.local || meta.status !== 'running') return fail(reply, 503, `partition ${partition} does not run here`);
      const rows = await streams.rangeLocal(store, partition, query);
      return send(reply, 200, { rows: rows.map(([k, v]) => [k.toString('base64'), v.toString('base64')]) });
    },
  );

  app.get<{ Params: { store: string }; Querystring: RangeParams }>(
    `${prefix}/:store/range`,
    rangeSchema('Rows in a range of keys, gathered from every partition, a page at a time'),
    async (request, reply) => {
      const { store } = request.params;
      const spec = storeOf(store);
      if (!spec) return fail(reply, 404, `no store named ${store} is served here`);
      const query = rangeQuery(store, request.query);
      if (globals.has(store)) {
        const rows = await streams.rangeGlobal(store, query);
        const last = rows.at(-1);
        return send(reply, 200, {
          rows: rows.map(([k, v]) => ({ key: spec.keySerde.deserialize(k), value: spec.valueSerde.deserialize(v) })),
          next: rows.length === query.limit && last ? last[0].toString('base64url') : null,
          partial: false,
          missingPartitions: [],
        });
      }
      const partitions = streams.storePartitions(store);
      if (partitions.length === 0) return fail(reply, 503, STARTING);
      const missing: Array<{ partition: number; reason: string }> = [];
      const pages = await Promise.all(
        partitions.map(async (meta, partition): Promise<StoreRow[]> => {
          const placement = placeKey(meta, streams.endpoint);
          if (placement.kind === 'local') {
            // The task may stop running between the metadata and the read (a rebalance): report it missing.
            return streams.rangeLocal(store, partition, query).catch((error: unknown) => {
              missing.push({ partition, reason: (error as Error).message });
              return [];
            });
          }
          if (placement.kind === 'unavailable' || forwarded(request)) {
            missing.push({
              partition,
              reason: placement.kind === 'unavailable' ? placement.reason : 'its owner moved',
            });
            return [];
          }
          try {
            const search = new URLSearchParams(request.query as Record<string, string>).toString();
            const answer = await fromMember(
              placement.owner,
              `${prefix}/${store}/partitions/${partition}/range?${search}`,
            );
            if (answer.status !== 200) throw new Error(`HTTP ${answer.status}`);
            const body = (await answer.json()) as { rows: Array<[string, string]> };
            return body.rows.map(([k, v]) => [Buffer.from(k, 'base64'), Buffer.from(v, 'base64')]);
          } catch (error) {
            missing.push({ partition, reason: `owner ${placement.owner}: ${(error as Error).message}` });
            return [];
          }
        }),
      );
      const direction = query.reverse ? -1 : 1;
      const merged = pages.flat().sort(([a], [b]) => direction * Buffer.compare(a, b));
      const page = merged.slice(0, query.limit);
      // More may follow when a partition filled its page: the next one starts after this page's last key.
      const more = merged.length > query.limit || pages.some((rows) => rows.length === query.limit);
      const last = page.at(-1);
      missing.sort((a, b) => a.partition - b.partition);
      return send(reply, 200, {
        rows: page.map(([k, v]) => ({ key: spec.keySerde.deserialize(k), value: spec.valueSerde.deserialize(v) })),
        next: more && last ? last[0].toString('base64url') : null,
        partial: missing.length > 0,
        missingPartitions: missing,
      });
    },
  );

  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof BadRequest) return fail(reply, 400, error.message);
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500) return fail(reply, status, (error as Error).message);
    app.log.error(error);
    return fail(reply, 500, 'internal error');
  });

  /** A group's key, from the URL, as its bytes: what a window store's task was chosen by. */
  function groupKeyBytes(store: string, layout: WindowedStoreLayout, text: string): Buffer {
    const parse = options.parseKey?.[store] ?? ((s: string) => s);
    try {
      return layout.keySerde.serialize(parse(text));
    } catch (error) {
      throw new BadRequest(`key "${text}" is not a key of store ${store}: ${(error as Error).message}`);
    }
  }

  function windowQuery(params: WindowParams): { from: number; to: number; limit: number } {
    const time = (name: 'from' | 'to', text: string | undefined, otherwise: number) => {
      if (text === undefined) return otherwise;
      const ms = Number(text);
      if (!/^\d+$/.test(text) || !Number.isSafeInteger(ms)) {
        throw new BadRequest(`${name} must be a time in epoch milliseconds, got "${text}"`);
      }
      return ms;
    };
    const from = time('from', params.from, 0);
    const to = time('to', params.to, Number.MAX_SAFE_INTEGER);
    if (from > to) throw new BadRequest(`from (${from}) is after to (${to})`);
    const limit = params.limit === undefined ? Math.min(100, maxLimit) : Number(params.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) {
      throw new BadRequest(`limit must be a whole number from 1 to ${maxLimit}`);
    }
    return { from, to, limit };
  }

  function rangeQuery(store: string, params: RangeParams): RangeQuery {
    const limit = params.limit === undefined ? Math.min(100, maxLimit) : Number(params.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) {
      throw new BadRequest(`limit must be a whole number from 1 to ${maxLimit}`);
    }
    if (params.reverse !== undefined && params.reverse !== 'true' && params.reverse !== 'false') {
      throw new BadRequest('reverse must be true or false');
    }
    let after: Buffer | undefined;
    if (params.after !== undefined) {
      if (!/^[A-Za-z0-9_-]+$/.test(params.after)) throw new BadRequest('after must be a continuation token (next)');
      after = Buffer.from(params.after, 'base64url');
    }
    return {
      limit,
      ...(params.from !== undefined ? { from: keyBytes(store, params.from) } : {}),
      ...(params.to !== undefined ? { to: keyBytes(store, params.to) } : {}),
      ...(params.prefix !== undefined ? { prefix: Buffer.from(params.prefix, 'utf8') } : {}),
      ...(params.reverse === 'true' ? { reverse: true } : {}),
      ...(after ? { after } : {}),
    };
  }
}

/**
 * A key's windows in a partition running here: those that start from `from` to `to` (time and sliding windows,
 * as Kafka Streams' fetch), or overlap [from, to] (sessions, as its fetchSession), earliest first.
 */
export async function localWindows(
  streams: Pick<QueryableStores, 'getLocal' | 'rangeLocal'>,
  store: string,
  partition: number,
  layout: WindowedStoreLayout,
  key: Buffer,
  from: number,
  to: number,
  limit: number,
  /** The most rows read to find them (keys that only start with this key's bytes are read too). */
  scanLimit = 1000,
): Promise<Array<{ start: number; end: number; value: unknown; timestamp: number }>> {
  if (layout.kind !== 'time') {
    const row = streams.getLocal(store, partition, key);
    if (row === undefined) return [];
    const inRange =
      layout.kind === 'session'
        ? (w: WindowRow<unknown>) => w.end >= from && w.start <= to
        : (w: WindowRow<unknown>) => w.start >= from && w.start <= to;
    return windowRowsSerde(layout.aggregateSerde)
      .deserialize(row)
      .filter(inRange)
      .slice(0, limit)
      .map((w) => ({ start: w.start, end: w.end, value: w.aggregate, timestamp: w.timestamp }));
  }
  const bound = (ms: number) => {
    const bytes = Buffer.allocUnsafe(key.length + 8);
    key.copy(bytes);
    bytes.writeBigInt64BE(BigInt(ms), key.length);
    return bytes;
  };
  // Keys that only start with this key's bytes fall in the byte range too: only this key's are kept.
  const rows = await streams.rangeLocal(store, partition, { from: bound(from), to: bound(to), limit: scanLimit });
  const values = valueAndTimestampSerde(layout.aggregateSerde);
  return rows
    .filter(([k]) => k.length === key.length + 8 && k.subarray(0, key.length).equals(key))
    .slice(0, limit)
    .map(([k, v]) => {
      const start = Number(k.readBigInt64BE(key.length));
      const { value, timestamp } = values.deserialize(v);
      return { start, end: start + layout.sizeMs, value, timestamp };
    });
}
