import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { UsageRecord } from '../api/types.ts';
import { CallDetail } from './call-detail.tsx';

/**
 * The breakdown of a call whose model consulted Anthropic's advisor (the usage record of the recorded
 * test_anthropic_advisor_tool call, as the gateway writes it): the advisor's lines carry their model.
 */
const ADVISED: UsageRecord = {
  id: 1,
  request_id: 'req_advisor',
  created_at: '2026-12-02T12:00:00.000Z',
  account: 'acct_1',
  account_name: 'acme',
  key: null,
  key_prefix: null,
  end_user: null,
  requested_model: 'claude-sonnet-5',
  model: 'anthropic/claude-sonnet-5',
  provider: 'anthropic',
  upstream_model: 'claude-sonnet-5',
  status: 'success',
  error_code: null,
  stream: false,
  usage_estimated: false,
  latency_ms: 12,
  input_uncached_tokens: 2390,
  cache_read_tokens: 0,
  cache_write_tokens: 0,
  input_audio_tokens: 0,
  output_text_tokens: 121,
  reasoning_tokens: 0,
  output_audio_tokens: 0,
  provider_cost: '0.022125',
  markup: '0',
  charge: '0.022125',
  debit: '0.022125',
  debit_unit: 'usd',
  price_version: 41,
  pricing_source: 'database',
  pricing_match: 'prefix',
  breakdown: {
    lines: [
      { component: 'input', units: 2390, rate: '0.000003', amount: '0.00717' },
      { component: 'output', units: 121, rate: '0.000015', amount: '0.001815' },
      { component: 'input', units: 2518, rate: '0.000005', amount: '0.01259', model: 'claude-opus-4-8' },
      { component: 'output', units: 22, rate: '0.000025', amount: '0.00055', model: 'claude-opus-4-8' },
    ],
    otherModels: [
      {
        model: 'claude-opus-4-8',
        modelId: 'anthropic/claude-opus-4-8',
        source: 'database',
        match: 'prefix',
        priceVersion: 42,
        cost: '0.01314',
      },
    ],
    providerCost: '0.022125',
    markup: null,
    charge: '0.022125',
  },
  ledger_entry_id: 7,
  provider_usage: null,
};

/** The breakdown table's rows as text, one cell after another. */
function rows(html: string): string[] {
  const table = html.slice(html.indexOf('aria-label="cost breakdown"'), html.indexOf('</table>'));
  return [...table.matchAll(/<tr[^>]*>(.*?)<\/tr>/g)].map((row) =>
    [...row[1]!.matchAll(/<t[dh][^>]*>(.*?)<\/t[dh]>/g)].map((cell) => cell[1]!.replace(/<[^>]+>/g, '')).join(' | '),
  );
}

describe('CallDetail', () => {
  it("names the model and price version of the lines of another model's steps (Anthropic's advisor)", () => {
    const html = renderToStaticMarkup(createElement(CallDetail, { record: ADVISED }));
    expect(rows(html).slice(1, 5)).toEqual([
      'input | 2,390 | $3.00 / 1M | $0.00717',
      'output | 121 | $15.00 / 1M | $0.001815',
      'input · claude-opus-4-8 → anthropic/claude-opus-4-8 (price version 42, source database, match prefix) | 2,518 | $5.00 / 1M | $0.01259',
      'output · claude-opus-4-8 → anthropic/claude-opus-4-8 (price version 42, source database, match prefix) | 22 | $25.00 / 1M | $0.00055',
    ]);
    expect(html).toContain('data-model="claude-opus-4-8"');
  });

  it('shows a line without a model as before', () => {
    const html = renderToStaticMarkup(
      createElement(CallDetail, {
        record: {
          ...ADVISED,
          breakdown: { ...ADVISED.breakdown!, lines: ADVISED.breakdown!.lines.slice(0, 2), otherModels: [] },
        },
      }),
    );
    expect(html).not.toContain('call-line-model');
    expect(rows(html).slice(1, 3)).toEqual(['input | 2,390 | $3.00 / 1M | $0.00717', 'output | 121 | $15.00 / 1M | $0.001815']);
  });
});
