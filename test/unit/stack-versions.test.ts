// compose.yaml and the native stack (stack/maven/*.xml) must run the same versions.
import t from 'tap';
import { readFileSync } from 'node:fs';

const compose = readFileSync(new URL('../../compose.yaml', import.meta.url), 'utf8');
const pom = (name: string) => readFileSync(new URL(`../../stack/maven/${name}/pom.xml`, import.meta.url), 'utf8');
const property = (xml: string, name: string) => xml.match(new RegExp(`<${name}>([^<]+)</${name}>`))?.[1];
const imageTags = (repository: string) =>
  [...compose.matchAll(new RegExp(`image:\\s*${repository.replace(/[./]/g, '\\$&')}:(\\S+)`, 'g'))].map((m) => m[1]);

t.test('Kafka', async (t) => {
  const version = property(pom('kafka'), 'kafka.version');
  t.ok(version, 'the stack pins a Kafka version');
  t.same([...new Set(imageTags('apache/kafka'))], [version]);
});

t.test('Debezium', async (t) => {
  const version = property(pom('debezium'), 'debezium.version');
  t.ok(version);
  t.ok(imageTags('quay.io/debezium/connect').length > 0, 'compose runs Debezium Connect');
  t.same([...new Set(imageTags('quay.io/debezium/connect'))], [version]);
});

t.test('Apicurio Registry', async (t) => {
  const version = property(pom('registry'), 'apicurio.version');
  t.ok(version);
  t.same([...new Set(imageTags('apicurio/apicurio-registry'))], [version]);
});

t.test('PostgreSQL 15', async (t) => {
  t.ok(imageTags('postgres').length > 0);
  t.same([...new Set(imageTags('postgres'))], ['15']);
  t.match(readFileSync(new URL('../../stack/env.sh', import.meta.url), 'utf8'), /postgresql\/15\/bin/);
});

t.test(
  'the authenticated endpoints: the same ports and mechanism in compose.yaml as in the native stack',
  async (t) => {
    const env = readFileSync(new URL('../../stack/env.sh', import.meta.url), 'utf8');
    const setting = (name: string) => env.match(new RegExp(`\\$\\{${name}:=([^}]+)\\}`))?.[1];
    const saslPort = setting('KAFKA_SASL_PORT');
    const registryAuthPort = setting('REGISTRY_AUTH_PORT');
    t.ok(saslPort && registryAuthPort, 'stack/env.sh sets both ports');
    t.match(compose, new RegExp(`KAFKA_ADVERTISED_LISTENERS: .*SASL_SSL://127\\.0\\.0\\.1:${saslPort}`), 'advertised');
    t.match(compose, new RegExp(`"127\\.0\\.0\\.1:${saslPort}:${saslPort}"`), 'published on loopback');
    t.match(compose, /KAFKA_SASL_ENABLED_MECHANISMS: SCRAM-SHA-512/);
    t.match(compose, new RegExp(`"127\\.0\\.0\\.1:${registryAuthPort}:8080"`), 'the basic-auth registry published');
    t.match(compose, /QUARKUS_HTTP_AUTH_PERMISSION_REGISTRY_POLICY: authenticated/);
    t.notMatch(compose, /KAFKA_SSL_KEYSTORE_PASSWORD:/, 'no keystore password in the compose file');
  },
);
