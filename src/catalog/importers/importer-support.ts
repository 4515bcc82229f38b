import { InvalidPriceError, parsePriceIn, type PriceUnit } from '../../money/units.js';
import { Decimal } from '../../money/decimal.js';
import type { PriceRates, RateKey } from '../../pricing/types.js';
import type { FormatName, ImportedEntry, ImportIssue, ParsedSource } from './types.js';

/**
 * What every importer shares: collecting entries, turning an InvalidPriceError into an issue that names the
 * file, the model and the field, and reading a set of optional rate fields in one unit.
 */
export class SourceBuilder {
  readonly entries: ImportedEntry[] = [];
  readonly errors: ImportIssue[] = [];
  readonly notices: ImportIssue[] = [];

  constructor(
    readonly format: FormatName,
    readonly file: string,
    /** See ParsedSource.zeroIsFree. */
    readonly zeroIsFree = false,
  ) {}

  /** Runs `build` for one model; an invalid price becomes an error for that model only. */
  entry(model: string, build: () => ImportedEntry | undefined): void {
    try {
      const entry = build();
      if (entry) this.entries.push(entry);
    } catch (error) {
      if (error instanceof InvalidPriceError) {
        this.errors.push({ file: this.file, model, field: error.location.field, message: error.message });
      } else if (error instanceof InvalidEntryError) {
        this.error(model, `${this.file}: model ${model}, field ${error.field}: ${error.message}`, error.field);
      } else {
        throw error;
      }
    }
  }

  error(model: string, message: string, field?: string): void {
    this.errors.push({ file: this.file, model, ...(field ? { field } : {}), message });
  }

  notice(model: string, message: string): void {
    this.notices.push({ file: this.file, model, message });
  }

  /** Reads one price field of `record` in `unit`; undefined when the field is absent or null. */
  price(record: Record<string, unknown>, field: string, unit: PriceUnit, model: string): Decimal | undefined {
    const value = record[field];
    if (value === undefined || value === null) return undefined;
    // Adding zero drops trailing zeros (`0.0` -> `0`), so reports and JSON show one spelling per value.
    return Decimal.ZERO.add(parsePriceIn(value, unit, { file: this.file, model, field }));
  }

  /** Like `price`, for a field the format requires. @throws InvalidPriceError ("missing price") when absent. */
  required(record: Record<string, unknown>, field: string, unit: PriceUnit, model: string): Decimal {
    const value = this.price(record, field, unit, model);
    if (value === undefined) throw new InvalidPriceError({ file: this.file, model, field }, record[field], 'missing price');
    return value;
  }

  /** Reads every field of `fields` that `record` has into the rate it names. */
  rates(
    record: Record<string, unknown>,
    fields: Partial<Record<string, RateKey>>,
    unit: PriceUnit,
    model: string,
  ): Partial<PriceRates> {
    const rates: Partial<PriceRates> = {};
    for (const [field, key] of Object.entries(fields)) {
      const value = this.price(record, field, unit, model);
      if (value !== undefined && key) rates[key] = value;
    }
    return rates;
  }

  result(): ParsedSource {
    return {
      format: this.format,
      file: this.file,
      entries: this.entries,
      errors: this.errors,
      notices: this.notices,
      zeroIsFree: this.zeroIsFree,
    };
  }
}

/** A malformed entry that is not a bad price (a tier without its threshold): the entry is not imported. */
export class InvalidEntryError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'InvalidEntryError';
  }
}

/** `<prefix>/<rest>` without the prefix, or undefined when `id` does not start with it. */
export function withoutPrefix(id: string, prefix: string): string | undefined {
  return id.startsWith(`${prefix}/`) ? id.slice(prefix.length + 1) : undefined;
}
