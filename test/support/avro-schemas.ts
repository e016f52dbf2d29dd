// The user-information Avro schemas a test compares: version 1 (kept as a fixture) and the current one.
import { readFileSync } from 'node:fs';
import { projectFile } from '../../src/util/project-file.js';

export interface RecordSchema {
  type: 'record';
  name: string;
  namespace: string;
  fields: { name: string; type: unknown; default?: unknown }[];
}
const schemaFile = (path: string) => JSON.parse(readFileSync(projectFile(path), 'utf8')) as RecordSchema;
export const v1 = schemaFile('test/fixtures/avro/user-information.v1.avsc');
export const v2 = schemaFile('schemas/avro/user-information.avsc');
