// The public serdes. `Serdes` mirrors Kafka Streams' Serdes class: Serdes.string, Serdes.json(), ...
import { bytesSerde, int64Serde, int64StringSerde, stringSerde } from './primitive.js';
import { jsonSerde } from './json.js';

export { DeserializationError, type Serde } from './serde.js';
export { JSON_MAX_DEPTH, JsonSyntaxError, jsonSerde, parseJson, stringifyJson, type JsonValue } from './json.js';
export { bytesSerde, int64Serde, int64StringSerde, isInt64String, stringSerde, toInt64String } from './primitive.js';
export { sessionWindowedSerde, timeWindowedSerde, valueAndTimestampSerde, type ValueAndTimestamp } from './windowed.js';
export { AvroSerde, UnknownSchemaIdError, readSchemaId, type AvroSerdeOptions } from './avro.js';

export const Serdes = {
  string: stringSerde,
  int64String: int64StringSerde,
  int64: int64Serde,
  bytes: bytesSerde,
  json: jsonSerde,
} as const;
