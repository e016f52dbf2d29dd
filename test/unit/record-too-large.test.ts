// A record larger than maxRecordBytes is a production error of the record that caused it, found
// before anything is sent: its policy decides (here the driver's dead letters), and the records
// after it go on; nothing it wrote to a store or queued for another topic stays.
import t from 'tap';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { RecordTooLargeError } from '../../src/processor/errors.js';
import { Serdes } from '../../src/serdes/index.js';
import { TopologyTestDriver } from '../../src/testing/test-driver.js';

const text = { keySerde: Serdes.string, valueSerde: Serdes.string };

t.test('an oversized output record becomes a production error; the next records go on', async (t) => {
  const builder = new StreamsBuilder();
  const input = builder.stream('in', text);
  input.to('copy', text);
  input.mapValues((v) => (v ?? '').repeat(40)).to('big', text);
  const driver = new TopologyTestDriver(builder.build(), 'test-app', { maxRecordBytes: 1024 });
  driver.pipe('in', text, 'a', 'x'.repeat(10));
  driver.pipe('in', text, 'b', 'y'.repeat(100));
  driver.pipe('in', text, 'c', 'z');
  t.same(
    driver.readOutput('big', text).map((r) => r.key),
    ['a', 'c'],
    'the 4,000-byte record was not sent',
  );
  t.same(
    driver.readOutput('copy', text).map((r) => r.key),
    ['a', 'c'],
    'nothing else the failed record caused was sent (its copy before the large one is taken back)',
  );
  t.equal(driver.deadLetters.length, 1);
  const [letter] = driver.deadLetters;
  t.equal(letter!.kind, 'production');
  t.ok(letter!.error instanceof RecordTooLargeError);
  t.match(letter!.error.message, /a record for big is 4065 bytes, more than the 1024/);
  t.equal(letter!.record.key?.toString(), 'b', 'the letter is the input record that caused it');
});
