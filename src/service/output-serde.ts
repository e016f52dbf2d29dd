import { readFileSync } from 'node:fs';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { AvroSerde } from '../serdes/avro.js';
import { projectFile } from '../util/project-file.js';
import type { UserInformation } from '../../topology/user-information.js';

/** The output topic's values: Avro (schemas/avro/user-information.avsc) in Confluent wire format. */
export function userInformationAvro(registryUrl: string, topic: string): AvroSerde<UserInformation> {
  const schema = JSON.parse(readFileSync(projectFile('schemas/avro/user-information.avsc'), 'utf8')) as object;
  return new AvroSerde<UserInformation>({
    registry: new SchemaRegistry({ host: registryUrl }),
    subject: `${topic}-value`,
    schema,
  });
}
