// A JSON codec that keeps 64-bit integers exact. JSON.parse turns 9223372036854775807 into
// 9223372036854775808, and Node 20 has no JSON.parse source access to recover the digits,
// so this file has its own RFC 8259 parser and writer.
import { DeserializationError, type Serde } from './serde.js';

export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

/** Deeper input is rejected so that hostile records cannot exhaust the stack. */
export const JSON_MAX_DEPTH = 256;

/** A SyntaxError that also says where in the text parsing failed (a UTF-16 index). */
export class JsonSyntaxError extends SyntaxError {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position}`);
    this.name = 'JsonSyntaxError';
  }
}

const TAB = 0x09;
const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const ONE = 0x31;
const NINE = 0x39;
const COLON = 0x3a;
const UPPER_E = 0x45;
const OPEN_BRACKET = 0x5b;
const BACKSLASH = 0x5c;
const CLOSE_BRACKET = 0x5d;
const LOWER_E = 0x65;
const LOWER_F = 0x66;
const LOWER_N = 0x6e;
const LOWER_T = 0x74;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** Only integers with this many digits or fewer can be accumulated exactly in a double. */
const SAFE_DIGITS = 15;

const isDigit = (code: number) => code >= ZERO && code <= NINE;

/** Parses JSON text like JSON.parse, except that integers beyond Number.MAX_SAFE_INTEGER become bigint. */
export function parseJson(text: string): JsonValue {
  if (nativeParseIsExact(text)) {
    try {
      return JSON.parse(text) as JsonValue;
    } catch {
      // The exact parser below reports the error, with its position.
    }
  }
  return parseJsonExact(text);
}

/** The hand-written parser alone (parseJson uses it where the built-in one could lose precision). */
export function parseJsonExact(text: string): JsonValue {
  return new JsonParser(text).parseDocument();
}

/** Only a number with this many digits in a row can lose precision in a double. */
const LONG_DIGIT_RUN = SAFE_DIGITS + 1;

/**
 * Whether the text has LONG_DIGIT_RUN digits in a row. It looks at every LONG_DIGIT_RUN-th character
 * and back from a digit only as far as the run could reach, so most characters are never read (the
 * regular expression /\d{16}/ tried a match at every digit: ~14x slower on CDC rows of 13-digit ids).
 */
function hasLongDigitRun(text: string): boolean {
  const length = text.length;
  let at = LONG_DIGIT_RUN - 1;
  while (at < length) {
    if (!isDigit(text.charCodeAt(at))) {
      at += LONG_DIGIT_RUN;
      continue;
    }
    let start = at;
    while (start > at - LONG_DIGIT_RUN + 1 && isDigit(text.charCodeAt(start - 1))) start--;
    if (start === at - LONG_DIGIT_RUN + 1) return true;
    // The run ending at `at` is too short: the next one that could be long enough ends a full run after its start.
    at = start - 1 + LONG_DIGIT_RUN;
  }
  return false;
}

/**
 * The built-in parser is 4-6x faster and gives the same result where no number has 16 digits or
 * more and nothing nests deeper than JSON_MAX_DEPTH. Both are checked conservatively (digits or
 * brackets inside strings count too): a text that might not qualify goes to the exact parser.
 */
function nativeParseIsExact(text: string): boolean {
  if (hasLongDigitRun(text)) return false;
  let brackets = 0;
  for (const open of ['{', '[']) {
    for (let at = text.indexOf(open); at !== -1; at = text.indexOf(open, at + 1)) {
      if (++brackets > JSON_MAX_DEPTH) return false;
    }
  }
  return true;
}

class JsonParser {
  private pos = 0;
  private depth = 0;

  constructor(private readonly text: string) {}

  parseDocument(): JsonValue {
    this.skipWhitespace();
    const value = this.parseValue();
    this.skipWhitespace();
    if (this.pos < this.text.length) this.unexpected('after the JSON value');
    return value;
  }

  private parseValue(): JsonValue {
    const code = this.text.charCodeAt(this.pos);
    switch (code) {
      case QUOTE:
        return this.parseString();
      case OPEN_BRACE:
        return this.parseObject();
      case OPEN_BRACKET:
        return this.parseArray();
      case LOWER_T:
        return this.parseLiteral('true', true);
      case LOWER_F:
        return this.parseLiteral('false', false);
      case LOWER_N:
        return this.parseLiteral('null', null);
      default:
        if (code === MINUS || isDigit(code)) return this.parseNumber();
        return this.unexpected('where a value was expected');
    }
  }

  private parseObject(): { [key: string]: JsonValue } {
    this.enterNesting();
    const object: { [key: string]: JsonValue } = {};
    this.pos++;
    this.skipWhitespace();
    if (this.text.charCodeAt(this.pos) === CLOSE_BRACE) {
      this.pos++;
      this.depth--;
      return object;
    }
    for (;;) {
      if (this.text.charCodeAt(this.pos) !== QUOTE) this.unexpected('where a property name was expected');
      const key = this.parseString();
      this.skipWhitespace();
      if (this.text.charCodeAt(this.pos) !== COLON) this.unexpected("where ':' was expected");
      this.pos++;
      this.skipWhitespace();
      const value = this.parseValue();
      if (key === '__proto__') {
        // Assignment would call the prototype setter; JSON.parse also makes it an own property.
        Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
      } else {
        object[key] = value;
      }
      this.skipWhitespace();
      const code = this.text.charCodeAt(this.pos);
      this.pos++;
      if (code === COMMA) {
        this.skipWhitespace();
        continue;
      }
      if (code === CLOSE_BRACE) break;
      this.pos--;
      this.unexpected("where ',' or '}' was expected");
    }
    this.depth--;
    return object;
  }

  private parseArray(): JsonValue[] {
    this.enterNesting();
    const array: JsonValue[] = [];
    this.pos++;
    this.skipWhitespace();
    if (this.text.charCodeAt(this.pos) === CLOSE_BRACKET) {
      this.pos++;
      this.depth--;
      return array;
    }
    for (;;) {
      array.push(this.parseValue());
      this.skipWhitespace();
      const code = this.text.charCodeAt(this.pos);
      this.pos++;
      if (code === COMMA) {
        this.skipWhitespace();
        continue;
      }
      if (code === CLOSE_BRACKET) break;
      this.pos--;
      this.unexpected("where ',' or ']' was expected");
    }
    this.depth--;
    return array;
  }

  private parseString(): string {
    const text = this.text;
    const start = this.pos + 1;
    let pos = start;
    // Fast path: most strings have no escapes and can be sliced out whole.
    for (;;) {
      const code = text.charCodeAt(pos);
      if (code === QUOTE) {
        this.pos = pos + 1;
        return text.slice(start, pos);
      }
      if (code === BACKSLASH || code < SPACE || pos >= text.length) break;
      pos++;
    }
    return this.parseEscapedString(start, pos);
  }

  private parseEscapedString(start: number, firstSpecial: number): string {
    const text = this.text;
    let result = text.slice(start, firstSpecial);
    let chunkStart = firstSpecial;
    let pos = firstSpecial;
    for (;;) {
      if (pos >= text.length) throw new JsonSyntaxError(`Unterminated string (opened at ${start - 1})`, pos);
      const code = text.charCodeAt(pos);
      if (code === QUOTE) break;
      if (code < SPACE) throw new JsonSyntaxError('Control character in string (must be escaped)', pos);
      if (code !== BACKSLASH) {
        pos++;
        continue;
      }
      result += text.slice(chunkStart, pos);
      result += this.decodeEscape(pos);
      pos += text.charCodeAt(pos + 1) === 0x75 /* u */ ? 6 : 2;
      chunkStart = pos;
    }
    this.pos = pos + 1;
    return result + text.slice(chunkStart, pos);
  }

  /** Decodes the escape whose backslash is at `pos`. A \u escape is one UTF-16 code unit, so surrogate pairs (and, as in JSON.parse, lone surrogates) come out right when concatenated. */
  private decodeEscape(pos: number): string {
    const escaped = this.text[pos + 1];
    switch (escaped) {
      case '"':
        return '"';
      case '\\':
        return '\\';
      case '/':
        return '/';
      case 'b':
        return '\b';
      case 'f':
        return '\f';
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 't':
        return '\t';
      case 'u': {
        const hex = this.text.slice(pos + 2, pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new JsonSyntaxError('Bad \\u escape (needs 4 hex digits)', pos);
        return String.fromCharCode(parseInt(hex, 16));
      }
      case undefined:
        throw new JsonSyntaxError('Unterminated string', pos + 1);
      default:
        throw new JsonSyntaxError(`Bad escape '\\${escaped}'`, pos);
    }
  }

  private parseNumber(): number | bigint {
    const text = this.text;
    const start = this.pos;
    let pos = start;
    let code = text.charCodeAt(pos);
    const negative = code === MINUS;
    if (negative) code = text.charCodeAt(++pos);

    const digitsStart = pos;
    // Accumulated while scanning so that short integers need no slice and no Number().
    let magnitude = 0;
    if (code === ZERO) {
      code = text.charCodeAt(++pos);
    } else if (code >= ONE && code <= NINE) {
      do {
        magnitude = magnitude * 10 + (code - ZERO);
        code = text.charCodeAt(++pos);
      } while (isDigit(code));
    } else {
      throw new JsonSyntaxError('Expected a digit', pos);
    }
    const integerDigits = pos - digitsStart;

    let isInteger = true;
    if (code === DOT) {
      isInteger = false;
      code = text.charCodeAt(++pos);
      if (!isDigit(code)) throw new JsonSyntaxError("Expected a digit after '.'", pos);
      do code = text.charCodeAt(++pos);
      while (isDigit(code));
    }
    if (code === LOWER_E || code === UPPER_E) {
      isInteger = false;
      code = text.charCodeAt(++pos);
      if (code === PLUS || code === MINUS) code = text.charCodeAt(++pos);
      if (!isDigit(code)) throw new JsonSyntaxError('Expected a digit in the exponent', pos);
      do code = text.charCodeAt(++pos);
      while (isDigit(code));
    }
    this.pos = pos;

    if (isInteger && integerDigits <= SAFE_DIGITS) return negative ? -magnitude : magnitude;
    const literal = text.slice(start, pos);
    const value = Number(literal);
    return isInteger && !Number.isSafeInteger(value) ? BigInt(literal) : value;
  }

  private parseLiteral<V extends JsonValue>(word: string, value: V): V {
    if (!this.text.startsWith(word, this.pos)) this.unexpected(`where '${word}' was expected`);
    this.pos += word.length;
    return value;
  }

  private skipWhitespace(): void {
    const text = this.text;
    let pos = this.pos;
    for (;;) {
      const code = text.charCodeAt(pos);
      if (code !== SPACE && code !== LINE_FEED && code !== CARRIAGE_RETURN && code !== TAB) break;
      pos++;
    }
    this.pos = pos;
  }

  private enterNesting(): void {
    if (++this.depth > JSON_MAX_DEPTH) {
      throw new JsonSyntaxError(`Nesting deeper than ${JSON_MAX_DEPTH} levels`, this.pos);
    }
  }

  private unexpected(context: string): never {
    if (this.pos >= this.text.length) throw new JsonSyntaxError('Unexpected end of JSON input', this.pos);
    const found = JSON.stringify(this.text[this.pos]);
    throw new JsonSyntaxError(`Unexpected ${found} ${context}`, this.pos);
  }
}

/**
 * Writes JSON like JSON.stringify(value) (toJSON, boxed primitives, skipped undefined/functions/symbols,
 * non-finite numbers as null, cycle detection), except that a bigint is written as its bare digits.
 * Throws a TypeError when the value itself has no JSON form (undefined, a function, a symbol).
 */
export function stringifyJson(value: unknown): string {
  // The built-in writer is several times faster and writes the same wherever there is no bigint (it
  // throws on one), unless a bigint has a toJSON of its own, which it would call and we do not.
  if ((BigInt.prototype as { toJSON?: unknown }).toJSON === undefined) {
    try {
      const native = JSON.stringify(value) as string | undefined;
      if (native !== undefined) return native;
    } catch {
      // A bigint (or a cycle, which the writer below reports the same way).
    }
  }
  const written = writeValue(value, '', []);
  if (written === undefined) throw new TypeError(`${typeof value} has no JSON representation`);
  return written;
}

function writeValue(value: unknown, key: string, ancestors: object[]): string | undefined {
  if (typeof value === 'object' && value !== null) {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') value = toJSON.call(value, key);
  }
  switch (typeof value) {
    case 'string':
      // The built-in quoting is fast and escapes lone surrogates as JSON.stringify does.
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      if (value instanceof Number || value instanceof String || value instanceof Boolean || value instanceof BigInt) {
        return writeValue(value.valueOf(), key, ancestors);
      }
      if (ancestors.includes(value)) throw new TypeError('Converting circular structure to JSON');
      ancestors.push(value);
      try {
        return Array.isArray(value) ? writeArray(value, ancestors) : writeObject(value, ancestors);
      } finally {
        ancestors.pop();
      }
    default:
      return undefined;
  }
}

function writeArray(array: readonly unknown[], ancestors: object[]): string {
  let out = '[';
  for (let i = 0; i < array.length; i++) {
    if (i > 0) out += ',';
    out += writeValue(array[i], String(i), ancestors) ?? 'null';
  }
  return out + ']';
}

function writeObject(object: object, ancestors: object[]): string {
  let out = '{';
  let first = true;
  for (const key of Object.keys(object)) {
    const written = writeValue((object as Record<string, unknown>)[key], key, ancestors);
    if (written === undefined) continue;
    out += first ? '' : ',';
    out += JSON.stringify(key) + ':' + written;
    first = false;
  }
  return out + '}';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A serde for JSON documents with exact 64-bit integers. Deserialization does not check the shape
 * against T; T is what the caller promises the topic holds.
 */
export function jsonSerde<T = JsonValue>(name = 'json'): Serde<T> {
  return {
    name,
    serialize: (value: T) => Buffer.from(stringifyJson(value), 'utf8'),
    deserialize: (bytes: Buffer): T => {
      let text: string;
      try {
        text = utf8.decode(bytes);
      } catch (error) {
        throw new DeserializationError(name, 'invalid UTF-8', { cause: error });
      }
      try {
        return parseJson(text) as T;
      } catch (error) {
        if (error instanceof SyntaxError) throw new DeserializationError(name, error.message, { cause: error });
        throw error;
      }
    },
  };
}
