// The SLO alert rules pass their promtool unit tests, and the stack's configs are valid.
import t from 'tap';
import { spawnSync } from 'node:child_process';

const root = new URL('../..', import.meta.url).pathname;

t.test('promtool test rules', async (t) => {
  const result = spawnSync('promtool', ['test', 'rules', 'uis-slo.rules.test.yml'], {
    cwd: `${root}stack/prometheus/rules`,
    encoding: 'utf8',
  });
  t.equal(result.status, 0, result.stdout + result.stderr);
  t.match(result.stdout, /SUCCESS/);
});

t.test('promtool check rules', async (t) => {
  const result = spawnSync('promtool', ['check', 'rules', `${root}stack/prometheus/rules/uis-slo.rules.yml`], {
    encoding: 'utf8',
  });
  t.equal(result.status, 0, result.stdout + result.stderr);
  t.match(result.stdout, /SUCCESS: 10 rules found/);
});

t.test('the Alertmanager routing config is valid', async (t) => {
  const result = spawnSync('prometheus-alertmanager', ['--version'], { encoding: 'utf8' });
  t.equal(result.status, 0);
  const check = spawnSync('amtool', ['check-config', `${root}stack/alertmanager/alertmanager.yml`], {
    encoding: 'utf8',
  });
  t.equal(check.status, 0, check.stdout + check.stderr);
});
