import { readFileSync } from 'node:fs';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { AvroSerde } from '../serdes/avro.js';
import { projectFile } from '../util/project-file.js';
import type { UserInformation } from '../../topology/user-information.js';
import type { ServiceConfig } from './config.js';

type RegistrySettings = Pick<
  ServiceConfig,
  'schemaRegistryUrl' | 'schemaRegistryUsername' | 'schemaRegistryPassword' | 'outputTopic'
>;

/** The output topic's values: Avro (schemas/avro/user-information.avsc) in Confluent wire format. */
export function userInformationAvro(config: RegistrySettings): AvroSerde<UserInformation> {
  const schema = JSON.parse(readFileSync(projectFile('schemas/avro/user-information.avsc'), 'utf8')) as object;
  const { schemaRegistryUsername: username, schemaRegistryPassword: password, outputTopic: topic } = config;
  return new AvroSerde<UserInformation>({
    registry: new SchemaRegistry({
      host: config.schemaRegistryUrl,
      ...(username !== undefined && password !== undefined ? { auth: { username, password } } : {}),
    }),
    subject: `${topic}-value`,
    schema,
  });
}
