// A deliberate SLA breach fires its alert: an instance is frozen (SIGSTOP) for
// longer than the update SLA while a user changes in PostgreSQL, so that
// update reaches the view after more than 10 s. Prometheus (scraping the
// instance) fires UisUpdateLatencyOver10s and Alertmanager routes it to the pager.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { stack, uniqueName, eventually } from '../support/stack.js';
import { spawnInstance } from '../support/service.js';

const PORT = 3601;

interface PromAlert {
  labels: Record<string, string>;
  state: string;
}

t.test('breaking the update-latency SLA on purpose fires UisUpdateLatencyOver10s', async (t) => {
  const app = uniqueName('alerting');
  const stateDir = mkdtempSync(join(tmpdir(), 'uis-alerting-'));
  const child = spawnInstance(app, PORT, stateDir);
  const targets = join(stack.stateDir, 'prometheus', 'targets', `${app}.json`);
  t.teardown(() => {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    rmSync(targets, { force: true });
    rmSync(stateDir, { recursive: true, force: true });
  });
  writeFileSync(targets, JSON.stringify([{ targets: [`127.0.0.1:${PORT}`], labels: { deployment: app } }]));
  await eventually('the instance to be ready', 120_000, async () =>
    (await fetch(`http://127.0.0.1:${PORT}/health/ready`).catch(() => undefined))?.status === 200 ? true : undefined,
  );

  const db = new pg.Client(stack.postgres);
  await db.connect();
  t.teardown(() => db.end());
  const userId = String(8_000_000_000_000_000_000n + BigInt(Date.now()));
  await db.query('INSERT INTO users (user_id, username) VALUES ($1, $2)', [userId, `alerting-${userId}`]);
  await eventually('the user to be served', 30_000, async () =>
    (await fetch(`http://127.0.0.1:${PORT}/users/${userId}`)).status === 200 ? true : undefined,
  );
  await eventually('Prometheus to scrape the instance', 60_000, async () => {
    const response = await fetch(
      `${stack.prometheusUrl}/api/v1/query?query=${encodeURIComponent(`up{deployment="${app}"}`)}`,
    );
    const body = (await response.json()) as { data: { result: Array<{ value: [number, string] }> } };
    return body.data.result[0]?.value[1] === '1' ? true : undefined;
  });

  child.kill('SIGSTOP');
  await db.query('UPDATE users SET name = $2 WHERE user_id = $1', [userId, 'changed while frozen']);
  await new Promise((resolve) => setTimeout(resolve, 12_000));
  child.kill('SIGCONT');
  await eventually('the late update to be served', 60_000, async () => {
    const response = await fetch(`http://127.0.0.1:${PORT}/users/${userId}`);
    return response.ok && ((await response.json()) as { name: string }).name === 'changed while frozen'
      ? true
      : undefined;
  });

  const fired = await eventually('UisUpdateLatencyOver10s to fire in Prometheus', 90_000, async () => {
    const body = (await (await fetch(`${stack.prometheusUrl}/api/v1/alerts`)).json()) as {
      data: { alerts: PromAlert[] };
    };
    return body.data.alerts.find((a) => a.labels.alertname === 'UisUpdateLatencyOver10s' && a.state === 'firing');
  });
  t.match(fired.labels, { severity: 'page', slo: 'freshness' });
  const routed = await eventually('Alertmanager to hold the alert', 60_000, async () => {
    const alerts = (await (await fetch(`${stack.alertmanagerUrl}/api/v2/alerts`)).json()) as Array<{
      labels: Record<string, string>;
      receivers: Array<{ name: string }>;
    }>;
    return alerts.find((a) => a.labels.alertname === 'UisUpdateLatencyOver10s');
  });
  t.same(
    routed.receivers.map((r) => r.name),
    ['pager'],
    'a page goes to the pager receiver',
  );
});

t.test('every query of the Grafana dashboard is valid PromQL', async (t) => {
  const dashboard = JSON.parse(
    readFileSync(new URL('../../stack/grafana/uis-dashboard.json', import.meta.url), 'utf8'),
  ) as {
    panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
  };
  t.ok(dashboard.panels.length >= 8);
  for (const panel of dashboard.panels) {
    for (const target of panel.targets) {
      const body = (await (
        await fetch(`${stack.prometheusUrl}/api/v1/query?query=${encodeURIComponent(target.expr)}`)
      ).json()) as {
        status: string;
        error?: string;
      };
      t.equal(body.status, 'success', `${panel.title}: ${target.expr} ${body.error ?? ''}`);
    }
  }
});
