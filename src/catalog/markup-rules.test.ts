import { describe, expect, it } from 'vitest';
import { backends } from '../../test/support/backends.js';
import { loadConfig } from '../config/config.js';
import { Decimal } from '../money/decimal.js';
import { MarkupRules } from './markup-rules.js';

describe.each(backends())('MarkupRules on $name', (backend) => {
  it('finds the most specific rule: account, model, provider, global row, configuration', async () => {
    const database = await backend.open();
    try {
      const config = loadConfig({ TOLLGATE_MARKUP_PERCENT: '5' });
      const none = await MarkupRules.load(database, loadConfig({}));
      expect(none.find({ accountId: 'acme', modelId: 'gpt-4o', providerId: 'openai' })).toBeUndefined();
      const fromConfig = await MarkupRules.load(database, config);
      expect(fromConfig.find({ accountId: 'acme', modelId: 'gpt-4o', providerId: 'openai' })).toMatchObject({
        name: 'global:config',
      });

      await database.db
        .insertInto('markup_rules')
        .values([
          { scope: 'global', target: '', percent: '10', fixed_fee: null },
          { scope: 'provider', target: 'openai', percent: '15', fixed_fee: null },
          { scope: 'model', target: 'gpt-4o', percent: null, fixed_fee: '0.002' },
          { scope: 'account', target: 'acme', percent: '30', fixed_fee: null },
        ])
        .execute();
      const rules = await MarkupRules.load(database, config);
      const find = (accountId: string, modelId: string | undefined, providerId: string | undefined) =>
        rules.find({ accountId, modelId, providerId });
      const own = rules.find({
        accountId: 'acme',
        accountMarkup: { fixedFee: Decimal.parse('0.01') },
        modelId: 'gpt-4o',
        providerId: 'openai',
      })!;
      expect([own.scope, own.percent.toString(), own.fixedFee.toString()]).toEqual(['account', '0', '0.01']);
      expect(find('acme', 'gpt-4o', 'openai')).toMatchObject({ scope: 'account', name: 'account:acme' });
      expect(find('other', 'gpt-4o', 'openai')).toMatchObject({ scope: 'model', name: 'model:gpt-4o' });
      expect(find('other', 'gpt-4o', 'openai')!.fixedFee.toString()).toBe('0.002');
      expect(find('other', 'gpt-4o-mini', 'openai')!.percent.toString()).toBe('15');
      expect(find('other', undefined, 'anthropic')).toMatchObject({ scope: 'global', name: 'global:rule' });
      expect(find('other', undefined, 'anthropic')!.percent.toString()).toBe('10');

      await database.db.deleteFrom('markup_rules').where('scope', '=', 'account').execute();
      await rules.reload();
      expect(find('acme', 'gpt-4o', 'openai')).toMatchObject({ scope: 'model' });
    } finally {
      await database.close();
    }
  });
});
