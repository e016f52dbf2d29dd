/**
 * An SVG chart of HTTP latency against request rate: p50 (dashed) and p99
 * (solid) per target, on a log scale, so the knee where each one saturates
 * shows at a glance. No dependencies: the chart is a few lines and text.
 */

export interface LatencySeries {
  name: string;
  color: string;
  /** By request rate (req/s): the percentiles in ms. */
  points: Array<{ rate: number; p50: number; p99: number }>;
}

const WIDTH = 720;
const HEIGHT = 420;
const MARGIN = { left: 70, right: 190, top: 40, bottom: 50 };

export function latencyChart(title: string, series: readonly LatencySeries[]): string {
  const rates = [...new Set(series.flatMap((s) => s.points.map((p) => p.rate)))].sort((a, b) => a - b);
  const values = series.flatMap((s) => s.points.flatMap((p) => [p.p50, p.p99])).filter((v) => v > 0);
  const low = 10 ** Math.floor(Math.log10(Math.min(...values, 1)));
  const high = 10 ** Math.ceil(Math.log10(Math.max(...values, 10)));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (rate: number) =>
    MARGIN.left + (rates.length === 1 ? plotWidth / 2 : (rates.indexOf(rate) * plotWidth) / (rates.length - 1));
  const y = (ms: number) =>
    MARGIN.top + plotHeight - ((Math.log10(Math.max(ms, low)) - Math.log10(low)) / Math.log10(high / low)) * plotHeight;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${MARGIN.left}" y="22" font-size="14">${escape(title)}</text>`,
  ];
  for (let decade = low; decade <= high; decade *= 10) {
    out.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${y(decade)}" y2="${y(decade)}" stroke="#ddd"/>`,
      `<text x="${MARGIN.left - 8}" y="${y(decade) + 4}" text-anchor="end">${decade >= 1000 ? `${decade / 1000} s` : `${decade} ms`}</text>`,
    );
  }
  for (const rate of rates) {
    out.push(`<text x="${x(rate)}" y="${HEIGHT - MARGIN.bottom + 18}" text-anchor="middle">${rate}/s</text>`);
  }
  out.push(
    `<text x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - 10}" text-anchor="middle">request rate (open loop)</text>`,
  );
  series.forEach((s, i) => {
    const points = s.points.filter((p) => rates.includes(p.rate));
    for (const [key, dash] of [
      ['p50', '5,4'],
      ['p99', ''],
    ] as const) {
      const path = points.map((p) => `${x(p.rate)},${y(p[key])}`).join(' ');
      out.push(
        `<polyline points="${path}" fill="none" stroke="${s.color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
      );
    }
    const legendY = MARGIN.top + 10 + i * 20;
    out.push(
      `<line x1="${WIDTH - MARGIN.right + 15}" x2="${WIDTH - MARGIN.right + 40}" y1="${legendY}" y2="${legendY}" stroke="${s.color}" stroke-width="2"/>`,
      `<text x="${WIDTH - MARGIN.right + 46}" y="${legendY + 4}">${escape(s.name)}</text>`,
    );
  });
  const noteY = MARGIN.top + 10 + series.length * 20 + 10;
  out.push(`<text x="${WIDTH - MARGIN.right + 15}" y="${noteY}" fill="#555">solid: p99, dashed: p50</text>`, '</svg>');
  return out.join('\n') + '\n';
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
