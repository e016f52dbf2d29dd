// parseJson/stringifyJson must behave like JSON.parse/JSON.stringify except that big integers stay exact.
import { deepStrictEqual } from 'node:assert';
import t from 'tap';
import { DeserializationError } from '../../src/serdes/serde.js';
import {
  JSON_MAX_DEPTH,
  JsonSyntaxError,
  jsonSerde,
  parseJson as parseJsonEitherWay,
  parseJsonExact,
  stringifyJson,
} from '../../src/serdes/json.js';

/** parseJson, checked against the hand-written parser alone (parseJson takes the built-in one where it is exact). */
function parseJson(text: string): unknown {
  const parsed = parseJsonEitherWay(text);
  deepStrictEqual(parsed, parseJsonExact(text), `both parsers agree on ${text.slice(0, 80)}`);
  return parsed;
}

const debeziumEnvelope =
  '{"before":null,"after":{"user_id":9223372036854775807,"username":"x","joined_date":"2026-11-27T09:00:43.788156Z"},' +
  '"source":{"ts_ms":1795770043789,"table":"users","lsn":31969352},"op":"c","ts_ms":1795770043911}';

/** The error parseJson throws for `text`; fails the test if it parses or throws something else. */
function syntaxErrorOf(text: string): JsonSyntaxError {
  try {
    parseJson(text);
  } catch (error) {
    if (error instanceof JsonSyntaxError && error instanceof SyntaxError) return error;
    throw error;
  }
  throw new Error(`${JSON.stringify(text)} parsed without error`);
}

t.test('integers beyond 2^53 are exact bigints', async (t) => {
  t.equal(parseJson('9007199254740993'), 9007199254740993n, '2^53 + 1');
  t.equal(parseJson('9223372036854775807'), 9223372036854775807n, '2^63 - 1');
  t.equal(parseJson('-9223372036854775808'), -9223372036854775808n, '-2^63');
  t.equal(parseJson('-9007199254740993'), -9007199254740993n);
  t.equal(parseJson('123456789012345678901234567890'), 123456789012345678901234567890n, 'beyond 64 bits too');
  t.equal(parseJson('9007199254740991'), 9007199254740991, 'MAX_SAFE_INTEGER stays a number');
  t.equal(parseJson('-9007199254740991'), -9007199254740991);
  t.equal(parseJson('9007199254740992'), 9007199254740992n, '2^53 is not a safe integer');
  t.equal(parseJson('1234567890123456'), 1234567890123456, '16 digits but safe');
});

t.test('non-integers parse as JSON.parse parses them', async (t) => {
  for (const text of [
    '0',
    '-0',
    '1.5',
    '-0.25',
    '1e3',
    '1E+3',
    '2.5e-3',
    '9223372036854775807.0',
    '1e400',
    '-1e-400',
  ]) {
    t.ok(Object.is(parseJson(text), JSON.parse(text)), text);
  }
  t.type(parseJson('9223372036854775807.0'), 'number', 'a fraction makes it a number even if integral');
  t.type(parseJson('9.2e18'), 'number', 'an exponent makes it a number');
});

t.test('strings with escapes and unicode', async (t) => {
  const text = String.raw`"q\" b\\ s\/ \b\f\n\r\t \u00e9\u00E9 \ud83d\ude00 😀 日本"`;
  t.equal(parseJson(text), JSON.parse(text));
  t.equal(parseJson(String.raw`"\ud83d\ude00"`), '😀', 'an escaped surrogate pair is one code point');
  t.equal(parseJson(String.raw`"\ud800"`), '\ud800', 'a lone surrogate escape is allowed, as in JSON.parse');
  t.equal(parseJson(String.raw`"a\udc00b"`), 'a\udc00b');
  t.equal(parseJson('"\u2028\u2029\x7f"'), '\u2028\u2029\x7f', 'only characters below U+0020 need escaping');
  t.equal(parseJson('""'), '');
});

t.test('documents parse the same as with JSON.parse', async (t) => {
  const documents = [
    'null',
    'true',
    ' false ',
    '[]',
    '{}',
    '[[],[[]],{}]',
    ' \t\r\n{ "a" : [ 1 , 2 , { "b" : null } ] , "c" : "d" } \n',
    '{"a":1,"a":2}',
    '{"constructor":1,"toString":"x","hasOwnProperty":null}',
    '[1,-1,0.1,1e-7,123456789012345,"\\"",true,false,null]',
  ];
  for (const text of documents) t.strictSame(parseJson(text), JSON.parse(text), text);
  t.strictSame(parseJson('{"a":1,"a":2}'), { a: 2 }, 'the last duplicate key wins');
});

t.test('a Debezium envelope keeps its 64-bit id', async (t) => {
  const value = parseJson(debeziumEnvelope);
  t.strictSame(value, {
    before: null,
    after: { user_id: 9223372036854775807n, username: 'x', joined_date: '2026-11-27T09:00:43.788156Z' },
    source: { ts_ms: 1795770043789, table: 'users', lsn: 31969352 },
    op: 'c',
    ts_ms: 1795770043911,
  });
  t.equal(stringifyJson(value), debeziumEnvelope, 'writes back byte for byte');
});

t.test('malformed input fails with the position of the problem', async (t) => {
  const cases: [text: string, position: number, message: RegExp][] = [
    ['[1,2,]', 5, /Unexpected "\]"/],
    ['{"a":1,}', 7, /property name/],
    ['"abc', 4, /Unterminated string/],
    ['["ab\\', 5, /Unterminated string/],
    ['"a\\x"', 2, /Bad escape/],
    ['"\\u12G4"', 1, /\\u escape/],
    ['"\\u12"', 1, /\\u escape/],
    ['"a\nb"', 2, /Control character/],
    ['"a\u0000b"', 2, /Control character/],
    ['{"a" 1}', 5, /':'/],
    ['{a:1}', 1, /property name/],
    ['[1 2]', 3, /',' or '\]'/],
    ['{"a":1 "b":2}', 7, /',' or '\}'/],
    ['01', 1, /after the JSON value/],
    ['-', 1, /digit/],
    ['-a', 1, /digit/],
    ['1.', 2, /digit after '\.'/],
    ['.5', 0, /Unexpected/],
    ['1e+', 3, /exponent/],
    ['+1', 0, /Unexpected/],
    ['tru', 0, /'true'/],
    ['nul', 0, /'null'/],
    ['NaN', 0, /Unexpected/],
    ["'a'", 0, /Unexpected/],
    ['', 0, /end of JSON input/],
    ['   ', 3, /end of JSON input/],
    ['[', 1, /end of JSON input/],
    ['{"a":', 5, /end of JSON input/],
    ['{} {}', 3, /after the JSON value/],
    ['\ufeff{}', 0, /Unexpected/],
  ];
  for (const [text, position, message] of cases) {
    const error = syntaxErrorOf(text);
    t.equal(error.position, position, `${JSON.stringify(text)} at ${position}`);
    t.match(error.message, message, `${JSON.stringify(text)}: ${error.message}`);
    t.match(error.message, new RegExp(`at position ${position}$`), 'the message says where');
    t.throws(() => JSON.parse(text), SyntaxError, `JSON.parse rejects ${JSON.stringify(text)} too`);
  }
});

t.test('nesting is limited', async (t) => {
  const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
  t.strictSame(parseJson(nested(JSON_MAX_DEPTH)), JSON.parse(nested(JSON_MAX_DEPTH)), `${JSON_MAX_DEPTH} levels parse`);
  const error = syntaxErrorOf(nested(JSON_MAX_DEPTH + 1));
  t.match(error.message, /Nesting deeper/);
  t.equal(error.position, JSON_MAX_DEPTH);
  t.match(syntaxErrorOf('{"a":'.repeat(100_000)).message, /Nesting deeper/, 'no stack overflow');
  const objects = '{"a":'.repeat(JSON_MAX_DEPTH) + '1' + '}'.repeat(JSON_MAX_DEPTH);
  t.ok(parseJson(objects), 'depth counts objects as well as arrays');
});

t.test('__proto__ keys become own properties and pollute nothing', async (t) => {
  const value = parseJson('{"__proto__":{"polluted":true},"a":1}') as Record<string, unknown>;
  t.equal(Object.getPrototypeOf(value), Object.prototype, 'the prototype is untouched');
  t.ok(Object.hasOwn(value, '__proto__'), '__proto__ is an own property');
  t.strictSame(Object.getOwnPropertyDescriptor(value, '__proto__')?.value, { polluted: true });
  t.equal((value as { polluted?: unknown }).polluted, undefined);
  t.equal(({} as { polluted?: unknown }).polluted, undefined, 'Object.prototype is untouched');
  t.strictSame(Object.keys(value), Object.keys(JSON.parse('{"__proto__":{"polluted":true},"a":1}')));
  t.equal(stringifyJson(value), '{"__proto__":{"polluted":true},"a":1}', 'and it writes back out');
  const twice = parseJson('{"__proto__":1,"__proto__":2}') as Record<string, unknown>;
  t.equal(Object.getOwnPropertyDescriptor(twice, '__proto__')?.value, 2, 'last duplicate wins here too');
});

t.test('stringifyJson writes bigints as bare digits', async (t) => {
  t.equal(stringifyJson(9223372036854775807n), '9223372036854775807');
  t.equal(stringifyJson({ id: -9223372036854775808n, ids: [1n, 2] }), '{"id":-9223372036854775808,"ids":[1,2]}');
  t.equal(stringifyJson(Object(5n)), '5', 'a boxed bigint');
});

t.test('strings that look like bigints or markers stay strings', async (t) => {
  const lookAlikes = ['9223372036854775807', '"1"', '\\"', '\u0000123\u0000', '__bigint__1__', 'n1', '\ud800'];
  for (const text of lookAlikes) {
    const value = { text, n: 9007199254740993n };
    const written = stringifyJson(value);
    t.equal(written, `{"text":${JSON.stringify(text)},"n":9007199254740993}`);
    t.strictSame(parseJson(written), value, `${JSON.stringify(text)} round-trips`);
  }
});

t.test('stringifyJson matches JSON.stringify on values without bigints', async (t) => {
  class Point {
    constructor(
      readonly x: number,
      readonly y: number,
    ) {}
  }
  const values: unknown[] = [
    null,
    true,
    0,
    -0,
    1.5e300,
    NaN,
    -Infinity,
    'text with "quotes", \\ and \n\u0001 and \ud800',
    [undefined, () => 1, Symbol('s'), 1],
    { a: undefined, b: () => 1, c: Symbol('s'), d: 'kept' },
    { date: new Date(Date.UTC(2026, 10, 27)), nested: { toJSON: (key: string) => `key was ${key}` } },
    [Object(1), Object('s'), Object(false)],
    new Point(1, 2),
    { 2: 'b', 1: 'a', z: 'z', y: 'y' },
    { [Symbol('hidden')]: 1, shown: 2 },
    [[[]], {}],
  ];
  for (const value of values) t.equal(stringifyJson(value), JSON.stringify(value));
});

t.test('stringifyJson rejects what JSON.stringify cannot write', async (t) => {
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  t.throws(() => stringifyJson(cycle), TypeError, 'a cycle');
  const shared = { a: 1 };
  t.equal(stringifyJson([shared, shared]), '[{"a":1},{"a":1}]', 'a shared (non-cyclic) object is fine');
  t.throws(() => stringifyJson(undefined), TypeError);
  t.throws(() => stringifyJson(() => 1), TypeError);
});

t.test('round trips', async (t) => {
  const values = [
    { a: [1, 2.5, -3e-7, 'x', null, true, false, {}], b: { c: { d: [] } } },
    [9007199254740993n, -9007199254740993n, 9007199254740991, 'ü\u0000\u001f"\\/'],
    'just a string',
  ];
  for (const value of values) t.strictSame(parseJson(stringifyJson(value)), value);
});

t.test('jsonSerde', async (t) => {
  const serde = jsonSerde<{ id: bigint; name: string }>('users');
  t.equal(serde.name, 'users');
  t.equal(jsonSerde().name, 'json');
  const bytes = serde.serialize({ id: 9223372036854775807n, name: 'Zoë' });
  t.equal(bytes.toString('utf8'), '{"id":9223372036854775807,"name":"Zoë"}');
  t.strictSame(serde.deserialize(bytes), { id: 9223372036854775807n, name: 'Zoë' });
  t.strictSame(
    serde.deserialize(Buffer.from('\ufeff{"id":1,"name":"a"}')),
    { id: 1, name: 'a' },
    'a UTF-8 BOM is skipped',
  );

  t.throws(() => serde.deserialize(Buffer.from('{"id":1,}')), DeserializationError);
  try {
    serde.deserialize(Buffer.from('{"id":1,}'));
  } catch (error) {
    t.match((error as Error).message, /^users: .*at position 8$/, 'the message names the serde and the position');
    t.type((error as Error).cause, JsonSyntaxError, 'the parse error is the cause');
  }
  t.throws(() => serde.deserialize(Buffer.from([0x22, 0xc3, 0x28, 0x22])), DeserializationError, 'invalid UTF-8');
  t.throws(() => serde.deserialize(Buffer.alloc(0)), DeserializationError, 'empty bytes');
});

t.test('the built-in parser is taken only where it is exact', async (t) => {
  const digitsInAString = '{"a":"1234567890123456789","b":12345678901234567890}';
  t.same(parseJson(digitsInAString), { a: '1234567890123456789', b: 12345678901234567890n });
  const bracketsInStrings = `{"s":"${'{['.repeat(JSON_MAX_DEPTH)}","n":9007199254740993}`;
  t.equal((parseJson(bracketsInStrings) as { n: bigint }).n, 9007199254740993n);
  const manyShallow = `[${Array.from({ length: JSON_MAX_DEPTH + 1 }, () => '{}').join(',')}]`;
  t.equal((parseJson(manyShallow) as unknown[]).length, JSON_MAX_DEPTH + 1, 'many brackets, little depth');
  t.same(parseJson('[123456789012345,-0.5]'), [123456789012345, -0.5], 'fifteen digits stay a number');
  t.match(syntaxErrorOf('{"a":1,}').message, /position 7/, 'a syntax error still carries its position');
});

t.test('a long digit run is found wherever it sits (the built-in parser is never taken for one)', async (t) => {
  // parseJson (above) checks every result against the exact parser: a run of 16 digits the scan
  // missed would come back from JSON.parse as a rounded number, and the two would differ.
  let seed = 20261204;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) as number;
  const integer = (digits: number) =>
    String(1 + Math.floor(random() * 9)) + Array.from({ length: digits - 1 }, () => Math.floor(random() * 10)).join('');
  let bigints = 0;
  const wrong: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const parts = Array.from({ length: 1 + Math.floor(random() * 6) }, () => integer(1 + Math.floor(random() * 20)));
    const padding = ' '.repeat(Math.floor(random() * 17));
    const parsed = parseJson(`[${padding}${parts.join(',')}]`) as unknown[];
    parsed.forEach((n, at) => {
      if (typeof n !== (BigInt(parts[at]!) > BigInt(Number.MAX_SAFE_INTEGER) ? 'bigint' : 'number'))
        wrong.push(parts[at]!);
      if (typeof n === 'bigint') bigints++;
    });
  }
  t.same(wrong, [], 'each integer beyond 2^53 is a bigint, each other a number');
  t.ok(bigints > 100, `${bigints} long integers among them`);
});

t.test(
  'stringifyJson without bigints is what JSON.stringify writes; a bigint anywhere is written by our writer',
  async (t) => {
    const row = { userId: '1000000000001', n: 3, nested: [{ a: null, b: undefined, c: 'é\u2028' }], when: new Date(0) };
    t.equal(stringifyJson(row), JSON.stringify(row));
    t.equal(
      stringifyJson({ ...row, big: 18446744073709551615n }),
      `${JSON.stringify(row).slice(0, -1)},"big":18446744073709551615}`,
    );
    const prototype = BigInt.prototype as { toJSON?: () => string };
    prototype.toJSON = function () {
      return `a string, ${String(this)}`;
    };
    t.teardown(() => delete prototype.toJSON);
    t.equal(
      stringifyJson({ big: 1n }),
      '{"big":1}',
      'a toJSON of bigint (set by some library) does not change what we write',
    );
  },
);
