import { describe, expect, it } from 'vitest';
import { Decimal } from '../money/decimal.js';
import {
  AccountNameTakenError,
  AccountNotFoundError,
  AccountSuspendedError,
  checkAmount,
  checkEnteredAmount,
  HoldNotFoundError,
  IdempotencyConflictError,
  InsufficientCreditsError,
  InvalidAccountFieldError,
  InvalidAmountError,
  InvalidKeyFieldError,
  isUniqueViolation,
  type LedgerError,
} from './errors.js';

const d = (text: string) => Decimal.parse(text);

/** What the HTTP API and the CLI show of a ledger error: the OpenAI error shape's fields and the status. */
function shown(error: LedgerError) {
  return {
    name: error.name,
    code: error.code,
    type: error.type,
    status: error.statusCode,
    param: error.param,
    message: error.message,
  };
}

describe('ledger errors, as clients see them', () => {
  it('name the account, the amounts and their unit, and say what to do', () => {
    expect(shown(new InsufficientCreditsError('acc_1', d('0.25'), d('0.1'), 'usd'))).toEqual({
      name: 'InsufficientCreditsError',
      code: 'insufficient_credits',
      type: 'insufficient_quota',
      status: 402,
      param: undefined,
      message: 'insufficient credits on account acc_1: this call needs 0.25 usd, 0.1 usd available',
    });
    expect(shown(new AccountNotFoundError('acme'))).toEqual({
      name: 'AccountNotFoundError',
      code: 'account_not_found',
      type: 'invalid_request_error',
      status: 404,
      param: undefined,
      message: 'no account with id or name "acme"',
    });
    expect(shown(new AccountSuspendedError('acc_2'))).toMatchObject({
      name: 'AccountSuspendedError',
      code: 'account_suspended',
      type: 'permission_error',
      status: 403,
      message: 'account acc_2 is suspended; an admin can reactivate it (status "active")',
    });
    expect(shown(new AccountNameTakenError('acme'))).toMatchObject({
      name: 'AccountNameTakenError',
      code: 'account_name_taken',
      status: 409,
      message: 'an account named "acme" already exists; names are unique',
    });
    expect(shown(new IdempotencyConflictError('k1'))).toMatchObject({
      name: 'IdempotencyConflictError',
      code: 'idempotency_conflict',
      status: 409,
      message: 'idempotency key "k1" was already used with a different request; use a new key',
    });
    expect(shown(new HoldNotFoundError('req_9'))).toMatchObject({
      name: 'HoldNotFoundError',
      code: 'hold_not_found',
      status: 404,
      message: 'no hold for request "req_9"; hold before capturing',
    });
  });

  it('point a bad field at its parameter: any amount is `amount`, other fields with underscores', () => {
    expect(shown(new InvalidAmountError('grant amount', 'must be positive'))).toMatchObject({
      name: 'InvalidAmountError',
      code: 'invalid_amount',
      status: 400,
      param: 'amount',
      message: 'invalid grant amount: must be positive',
    });
    expect(new InvalidAmountError('job price', 'x').param).toBe('job_price');
    expect(new InvalidAmountError('amounts total', 'x').param).toBe('amounts_total');
    expect(shown(new InvalidAccountFieldError('overdraft limit', 'too big'))).toMatchObject({
      name: 'InvalidAccountFieldError',
      code: 'invalid_account_field',
      status: 400,
      param: 'overdraft_limit',
      message: 'invalid overdraft limit: too big',
    });
    expect(shown(new InvalidKeyFieldError('expires at', 'is in the past'))).toMatchObject({
      name: 'InvalidKeyFieldError',
      code: 'invalid_key_field',
      status: 400,
      param: 'expires at',
      message: 'invalid expires at: is in the past',
    });
  });

  it('refuse negative amounts unless signed, fractional token amounts, and entered amounts with too many digits', () => {
    expect(() => checkAmount('hold amount', d('-1'))).toThrow('invalid hold amount: must not be negative, got -1');
    expect(() => checkAmount('adjust amount', d('-1'), { signed: true })).not.toThrow();
    expect(() => checkAmount('grant amount', d('1.5'), { unit: 'tokens' })).toThrow('token amounts are whole numbers, got 1.5');
    expect(() => checkAmount('grant amount', d('1.5'), { unit: 'usd' })).not.toThrow();
    expect(() => checkEnteredAmount('grant amount', d('999999999999999'))).not.toThrow();
    expect(() => checkEnteredAmount('grant amount', d('1000000000000000'))).toThrow(
      'invalid grant amount: must have at most 15 digits before the decimal point and 18 after, got 16 and 0',
    );
    expect(() => checkEnteredAmount('grant amount', d('0.000000000000000001'))).not.toThrow();
    expect(() => checkEnteredAmount('grant amount', d('-0.0000000000000000001'), { signed: true })).toThrow('got 0 and 19');
  });

  it("recognises PostgreSQL's unique violation (23505) and nothing else", () => {
    expect(isUniqueViolation({ code: '23505' })).toBe(true);
    expect(isUniqueViolation({ code: '23503' })).toBe(false);
    expect(isUniqueViolation(null)).toBe(false);
    expect(isUniqueViolation('23505')).toBe(false);
  });
});
