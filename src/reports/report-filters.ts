import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../db/database.js';
import { GatewayError } from '../gateway/errors.js';
import type { ReportFilterInput } from './report-request.js';
import type { SummaryFilters } from './summary-plan.js';

/**
 * Turns the filters as given (an account's id or name, a key's id or prefix) into the ids stored with
 * usage. @throws GatewayError not_found naming the account or key that does not exist.
 */
export async function resolveFilters(db: Db, input: ReportFilterInput): Promise<SummaryFilters> {
  const filters: SummaryFilters = {};
  if (input.account !== undefined) {
    const account = await db
      .selectFrom('accounts')
      .select('id')
      .where((where) => where.or([where('id', '=', input.account!), where('name', '=', input.account!)]))
      .orderBy((order) => order.case().when('id', '=', input.account!).then(0).else(1).end())
      .executeTakeFirst();
    if (!account) throw new GatewayError('not_found', `no account with id or name ${JSON.stringify(input.account)}`, 'account');
    filters.accountId = account.id;
  }
  if (input.key !== undefined) {
    const key = await db
      .selectFrom('api_keys')
      .select('id')
      .where((where) => where.or([where('id', '=', input.key!), where('prefix', '=', input.key!)]))
      .executeTakeFirst();
    if (!key) throw new GatewayError('not_found', `no API key with id or prefix ${JSON.stringify(input.key)}`, 'key');
    filters.keyId = key.id;
  }
  if (input.model !== undefined) filters.model = input.model;
  if (input.provider !== undefined) filters.provider = input.provider;
  if (input.end_user !== undefined) filters.endUser = input.end_user;
  return filters;
}

/**
 * The filters as SQL conditions on usage records (`rollup: false`) or on a rollup (where a missing key,
 * provider or end user is '' and the model is the catalog model or, unresolved, the requested name).
 */
export function filterConditions(filters: SummaryFilters, options: { rollup: boolean; alias?: string }): RawBuilder<unknown>[] {
  const column = (name: string) => sql.ref(options.alias ? `${options.alias}.${name}` : name);
  const conditions: RawBuilder<unknown>[] = [];
  if (filters.accountId !== undefined) conditions.push(sql`${column('account_id')} = ${filters.accountId}`);
  if (filters.keyId !== undefined) conditions.push(sql`${column('api_key_id')} = ${filters.keyId}`);
  if (filters.provider !== undefined) conditions.push(sql`${column('provider_id')} = ${filters.provider}`);
  if (filters.model !== undefined) {
    conditions.push(
      options.rollup
        ? sql`${column('model')} = ${filters.model}`
        : sql`(${column('model_id')} = ${filters.model} or (${column('model_id')} is null and ${column('requested_model')} = ${filters.model}))`,
    );
  }
  if (filters.endUser !== undefined) conditions.push(sql`${column('end_user')} = ${filters.endUser}`);
  return conditions;
}
