import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { coverage, priceAt, priceHistory, writePriceVersion } from '../catalog/catalog-store.js';
import { listModels } from '../catalog/model-listing.js';
import type { PricingCatalog } from '../catalog/snapshot.js';
import { InvalidCursorError, MAX_PAGE_SIZE } from '../db/keyset-pages.js';
import { PRICES_CHANGED_CHANNEL } from '../db/channels.js';
import type { Database } from '../db/database.js';
import { Decimal } from '../money/decimal.js';
import {
  InvalidPriceError,
  MAX_BELIEVABLE_TOKEN_RATE,
  parsePrice,
  PER_TOKEN_RATES,
  toPerUnit,
  type PriceUnit,
} from '../money/units.js';
import type { ImageRate, PriceRates, PriceTier, RateKey } from '../pricing/types.js';
import { RATE_COLUMNS, RATE_KEYS } from '../catalog/price-row.js';
import { GatewayError } from '../gateway/errors.js';

export interface AdminPricingServices {
  database: Database;
  catalog: PricingCatalog;
}

const UNITS: Record<string, PriceUnit> = { token: 'usd-per-unit', '1k': 'usd-per-1k', '1m': 'usd-per-1m' };
const UNIT_CHOICES = '"token" (USD per token), "1k" (USD per 1,000 tokens) or "1m" (USD per 1,000,000 tokens)';

/** The body field that writes a per-token rate above MAX_BELIEVABLE_TOKEN_RATE anyway (the seed's --accept-suspicious). */
export const CONFIRM_UNUSUAL_RATE = 'confirm_unusual_rate';

/** Admin routes of the price catalog (the parent scope checks the admin key). */
export function registerAdminPricingRoutes(app: FastifyInstance, services: AdminPricingServices): void {
  const { database, catalog } = services;
  const tags = ['admin: pricing'];

  app.post(
    '/admin/pricing/reload',
    { schema: { tags, summary: 'Reload the price catalog snapshot now (every instance, through NOTIFY)' } },
    async () => {
      const result = await catalog.reload();
      await database.notify(PRICES_CHANGED_CHANNEL, 'reload');
      return { status: 'reloaded', models: result.models, source: result.source };
    },
  );

  app.get(
    '/admin/pricing/coverage',
    { schema: { tags, summary: 'Active models, priced models, percent, and the active models without a price' } },
    async () => coverage(database.db),
  );

  app.get<{
    Querystring: { limit?: number; cursor?: string; search?: string; provider?: string; priced?: boolean; active?: boolean };
  }>(
    '/admin/pricing/models',
    {
      schema: {
        tags,
        summary: 'Catalog models by id with their current price (USD per unit), a page at a time',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: 100 },
            cursor: { type: 'string', description: 'the next_cursor of the previous page' },
            search: { type: 'string', description: 'part of the model id, any case' },
            provider: { type: 'string' },
            priced: { type: 'boolean', description: 'true: only priced models; false: only unpriced ones' },
            active: { type: 'boolean' },
          },
        },
      },
    },
    async (request) => {
      const { limit = 100, cursor, search, provider, priced, active } = request.query;
      try {
        const page = await listModels(database.db, {
          limit,
          ...(cursor !== undefined ? { cursor } : {}),
          ...(search ? { search } : {}),
          ...(provider ? { provider } : {}),
          ...(priced !== undefined ? { priced } : {}),
          ...(active !== undefined ? { active } : {}),
        });
        return {
          data: page.data.map((model) => ({
            id: model.id,
            provider: model.provider,
            upstream_model: model.upstreamModel,
            active: model.active,
            modality: model.modality,
            price: model.price && {
              version: model.price.version,
              source: model.price.source,
              effective_from: model.price.effectiveFrom,
              rates: model.price.rates,
              tiered: model.price.tiered,
            },
          })),
          next_cursor: page.nextCursor,
        };
      } catch (error) {
        if (error instanceof InvalidCursorError) throw new GatewayError('invalid_request', error.message, 'cursor');
        throw error;
      }
    },
  );

  app.get(
    '/admin/pricing/models/*',
    { schema: { tags, summary: 'One model: catalog row, aliases, current price and every price version' } },
    async (request) => {
      const modelId = (request.params as { '*': string })['*'];
      const model = await database.db.selectFrom('models').selectAll().where('id', '=', modelId).executeTakeFirst();
      if (!model) throw new GatewayError('not_found', `no model ${JSON.stringify(modelId)} in the catalog`);
      const aliases = await database.db.selectFrom('model_aliases').select('alias').where('model_id', '=', modelId).execute();
      return {
        model,
        aliases: aliases.map((row) => row.alias),
        current: (await priceAt(database.db, modelId)) ?? null,
        history: await priceHistory(database.db, modelId),
      };
    },
  );

  app.put(
    '/admin/pricing/models/*',
    {
      schema: {
        tags,
        summary: "Set a model's price: writes a new version effective now and closes the previous one",
        description:
          'PUT /admin/pricing/models/<model id>/price with rates as decimal strings, e.g. {"unit": "1m", "input": "2.50", "output": "10"}; ' +
          'unit (token, 1k or 1m) is required with any per-token rate (input, output, cache_read, cache_write, cache_write_1h, ' +
          'reasoning, input_audio, output_audio, in the body or a tier); ' +
          'a per-token rate above 0.001 USD per token ($1000 per 1M, the limit catalog seed and the price sync hold back) is ' +
          'refused unless the body says "confirm_unusual_rate": true; ' +
          'per_request, per_image (USD per image) and audio_second (USD per second of audio) are per unit whatever `unit` says; ' +
          'an image or audio model may give those instead of input and output; ' +
          'image_rates: [{"size": "1024x1024", "quality": "hd", "rate": "0.08"}] (USD per image by size and quality); ' +
          'tiers: [{"above_input_tokens": 200000, "input": "5", "output": "15"}].',
        body: { type: 'object', additionalProperties: true },
      },
    },
    async (request) => {
      const path = (request.params as { '*': string })['*'];
      if (!path.endsWith('/price')) throw new GatewayError('not_found', 'use PUT /admin/pricing/models/<model id>/price');
      const modelId = path.slice(0, -'/price'.length);
      const model = await database.db.selectFrom('models').select('id').where('id', '=', modelId).executeTakeFirst();
      if (!model)
        throw new GatewayError(
          'not_found',
          `no model ${JSON.stringify(modelId)} in the catalog; register it first (tollgate catalog models import)`,
        );
      const price = parsePriceBody(request.body, modelId);
      const written = await database.db
        .transaction()
        .execute((transaction) => writePriceVersion(transaction, modelId, price, 'admin', new Date()));
      await catalog.reload();
      await database.notify(PRICES_CHANGED_CHANNEL, modelId);
      return { model: modelId, ...written, price: await priceAt(database.db, modelId) };
    },
  );

  app.get(
    '/admin/usage',
    {
      schema: {
        tags: ['admin: usage'],
        summary: 'Usage records, filtered by account, model and time, with exact totals',
        querystring: usageQuerySchema,
      },
    },
    async (request) => {
      const query = request.query as { account?: string; model?: string; from?: string; to?: string; limit?: number };
      let select = database.db.selectFrom('usage_records');
      if (query.account) {
        const account = await database.db
          .selectFrom('accounts')
          .select('id')
          .where((where) => where.or([where('id', '=', query.account!), where('name', '=', query.account!)]))
          .executeTakeFirst();
        if (!account) throw new GatewayError('not_found', `no account ${JSON.stringify(query.account)}`);
        select = select.where('account_id', '=', account.id);
      }
      if (query.model)
        select = select.where((where) =>
          where.or([where('model_id', '=', query.model!), where('requested_model', '=', query.model!)]),
        );
      if (query.from) select = select.where('created_at', '>=', parseTime(query.from, 'from'));
      if (query.to) select = select.where('created_at', '<', parseTime(query.to, 'to'));
      const records = await select
        .selectAll()
        .orderBy('id', 'desc')
        .limit(query.limit ?? 100)
        .execute();
      const totals = await select
        .select([
          sql<number>`count(*)`.as('calls'),
          sql<string>`coalesce(sum(charge), 0)::text`.as('charge'),
          sql<string>`coalesce(sum(provider_cost), 0)::text`.as('provider_cost'),
        ])
        .executeTakeFirstOrThrow();
      // NUMERIC sums keep the columns' trailing zeros ("0.00035370"); print them as every other amount.
      return {
        totals: {
          calls: Number(totals.calls),
          charge: Decimal.parse(totals.charge).toString(),
          provider_cost: Decimal.parse(totals.provider_cost).toString(),
        },
        records,
      };
    },
  );
}

const usageQuerySchema = {
  type: 'object',
  properties: {
    account: { type: 'string', description: 'account id or name' },
    model: { type: 'string' },
    from: { type: 'string', description: 'ISO time, inclusive' },
    to: { type: 'string', description: 'ISO time, exclusive' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
  },
} as const;

/** @throws GatewayError invalid_request naming the bad field. */
/** Rates priced per thing rather than per token: never scaled by `unit`. */
const PER_THING_RATES: ReadonlySet<RateKey> = new Set(['perRequest', 'perImage', 'audioSecond']);

function parsePriceBody(
  body: unknown,
  modelId: string,
): { rates: Partial<PriceRates>; tiers: PriceTier[]; imageRates: ImageRate[] } {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new GatewayError('invalid_request', 'the body must be a JSON object of rates');
  const input = body as Record<string, unknown>;
  // No default: a per-1M price sent without its unit was once written as that many dollars per token.
  const unit = input.unit === undefined ? undefined : UNITS[String(input.unit)];
  if (input.unit !== undefined && !unit)
    throw new GatewayError('invalid_request', `unit must be ${UNIT_CHOICES}, got ${JSON.stringify(input.unit)}`, 'unit');
  const confirmed = input[CONFIRM_UNUSUAL_RATE];
  if (confirmed !== undefined && typeof confirmed !== 'boolean')
    throw new GatewayError(
      'invalid_request',
      `${CONFIRM_UNUSUAL_RATE} must be true or false, got ${JSON.stringify(confirmed)}`,
      CONFIRM_UNUSUAL_RATE,
    );
  const unusual: UnusualRate[] = [];
  const readRates = (source: Record<string, unknown>, prefix: string): Partial<PriceRates> => {
    const rates: Partial<PriceRates> = {};
    for (const key of RATE_KEYS) {
      const field = RATE_COLUMNS[key];
      if (source[field] === undefined || source[field] === null) continue;
      let price: Decimal;
      try {
        price = parsePrice(source[field], { file: 'request body', model: modelId, field: prefix + field });
      } catch (error) {
        if (error instanceof InvalidPriceError) throw new GatewayError('invalid_request', error.message, prefix + field);
        throw error;
      }
      if (PER_THING_RATES.has(key)) {
        rates[key as RateKey] = price;
        continue;
      }
      if (!unit)
        throw new GatewayError(
          'invalid_request',
          `unit is required with a per-token rate such as ${prefix + field}: ${UNIT_CHOICES}`,
          'unit',
        );
      const perToken = toPerUnit(price, unit);
      if ((PER_TOKEN_RATES as readonly RateKey[]).includes(key) && perToken.gt(MAX_BELIEVABLE_TOKEN_RATE))
        unusual.push({ field: prefix + field, given: price, unit: String(input.unit), perToken });
      rates[key as RateKey] = perToken;
    }
    return rates;
  };
  const rates = readRates(input, '');
  const imageRates = readImageRates(input.image_rates, modelId);
  const perThing = rates.perImage !== undefined || rates.audioSecond !== undefined || imageRates.length > 0;
  if (!perThing && (rates.input === undefined || rates.output === undefined))
    throw new GatewayError(
      'invalid_request',
      'input and output rates are required (or per_image, image_rates or audio_second for an image or audio model)',
      rates.input ? 'output' : 'input',
    );
  const tiers: PriceTier[] = [];
  if (input.tiers !== undefined) {
    if (!Array.isArray(input.tiers)) throw new GatewayError('invalid_request', 'tiers must be an array', 'tiers');
    input.tiers.forEach((tier, index) => {
      const record = (tier ?? {}) as Record<string, unknown>;
      const above = record.above_input_tokens;
      if (typeof above !== 'number' || !Number.isSafeInteger(above) || above < 0) {
        throw new GatewayError(
          'invalid_request',
          'above_input_tokens must be a whole number of tokens',
          `tiers[${index}].above_input_tokens`,
        );
      }
      tiers.push({ aboveInputTokens: above, rates: readRates(record, `tiers[${index}].`) });
    });
  }
  if (unusual.length > 0 && confirmed !== true) throw unusualRateError(unusual);
  return { rates, tiers, imageRates };
}

/** A per-token rate above MAX_BELIEVABLE_TOKEN_RATE, as sent and as it would be stored. */
interface UnusualRate {
  field: string;
  given: Decimal;
  unit: string;
  perToken: Decimal;
}

/**
 * The refusal of a price with unbelievable per-token rates: each field, the rate as sent, per token and per 1M,
 * the limit, and the two ways on (the per-1M unit, or the confirmation). Names the first field as `param`.
 */
function unusualRateError(unusual: UnusualRate[]): GatewayError {
  const limit = MAX_BELIEVABLE_TOKEN_RATE;
  const rates = unusual.map(
    (rate) =>
      `${rate.field} "${rate.given.toString()}" with unit "${rate.unit}" is ${rate.perToken.toString()} USD per token ` +
      `($${rate.perToken.shift(6).toString()} per 1M tokens)`,
  );
  return new GatewayError(
    'invalid_request',
    `${rates.join('; ')}: above ${limit.toString()} USD per token ($${limit.shift(6).toString()} per 1M), the limit ` +
      'catalog seed and the price sync hold back, so most likely a per-1M or per-1K price in a per-token unit. ' +
      `Send the price with its real unit ("unit": "1m" for USD per 1M tokens), or add "${CONFIRM_UNUSUAL_RATE}": true ` +
      'if the rate is right.',
    unusual[0]!.field,
    undefined,
    {
      details: {
        unusual_rates: unusual.map((rate) => ({
          field: rate.field,
          usd_per_token: rate.perToken.toString(),
          usd_per_1m: rate.perToken.shift(6).toString(),
        })),
        confirm_with: CONFIRM_UNUSUAL_RATE,
      },
    },
  );
}

/** `image_rates: [{size: "1024x1024", quality?: "hd", rate: "0.08"}]`, USD per image. @throws GatewayError naming the field. */
function readImageRates(value: unknown, modelId: string): ImageRate[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new GatewayError('invalid_request', 'image_rates must be an array', 'image_rates');
  return value.map((entry: unknown, index) => {
    const field = `image_rates[${index}]`;
    const record = (entry ?? {}) as Record<string, unknown>;
    if (typeof record.size !== 'string' || !/^\d+x\d+$/.test(record.size)) {
      throw new GatewayError('invalid_request', 'size must be WIDTHxHEIGHT, e.g. 1024x1024', `${field}.size`);
    }
    if (record.quality !== undefined && typeof record.quality !== 'string') {
      throw new GatewayError('invalid_request', 'quality must be a string such as "standard" or "hd"', `${field}.quality`);
    }
    try {
      const rate = parsePrice(record.rate, { file: 'request body', model: modelId, field: `${field}.rate` });
      return { size: record.size, ...(record.quality !== undefined ? { quality: record.quality } : {}), rate };
    } catch (error) {
      if (error instanceof InvalidPriceError) throw new GatewayError('invalid_request', error.message, `${field}.rate`);
      throw error;
    }
  });
}

function parseTime(text: string, field: string): Date {
  const time = new Date(text);
  if (Number.isNaN(time.getTime()))
    throw new GatewayError('invalid_request', `${field} must be an ISO time such as 2026-01-31T00:00:00Z`, field);
  return time;
}
