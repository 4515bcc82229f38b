/**
 * 10^0 through 10^63, for scaling coefficients on hot paths: a bigint power computed on every addition was a
 * visible share of a call's profile.
 */
const POWERS_OF_TEN: readonly bigint[] = Array.from({ length: 64 }, (_, exponent) => 10n ** BigInt(exponent));

/** 10^0 through 10^15 as numbers: every one a safe integer, for the exact number paths beside POWERS_OF_TEN. */
const SAFE_POWERS_OF_TEN: readonly number[] = Array.from({ length: 16 }, (_, exponent) => 10 ** exponent);

/**
 * An exact decimal number: `coefficient × 10^-scale`, with a bigint coefficient.
 *
 * Why not a float: $0.90 per 1M is 9E-7 per token, which no binary float holds exactly; summing
 * such rates over millions of tokens drifts (litellm#8867). Why not decimal.js: it rounds every
 * operation to a configured number of significant digits. Everything tollgate does with money is
 * addition, subtraction, multiplication and scaling by powers of ten, which a scaled bigint does
 * exactly by construction; the only rounding is the explicit `round()` call, with its mode named.
 *
 * @example
 *   Decimal.parse('0.90').shift(-6).toString()      // '0.0000009'
 *   Decimal.parse('2.5e-06').mul(Decimal.of(1000))  // 0.0025
 */
export class Decimal {
  /**
   * The coefficient as a number when it is a safe integer (|c| < 2^53, where number arithmetic on integers is
   * exact), else NaN: lets the cost engine's products and sums skip bigint work without ever rounding.
   */
  readonly safeCoefficient: number;
  /** The coefficient when it is not a safe integer; undefined when safeCoefficient holds it (one form per value). */
  private readonly big: bigint | undefined;
  /**
   * The text, once asked for: a call's charge is written as text several times (its answer, headers, journal
   * line, capture and usage record), and a value never changes. Private (#), so equal values stay equal.
   */
  #text: string | undefined = undefined;

  private constructor(
    /** The digits, as an integer (undefined when `knownSafe` gives them). */
    coefficient: bigint | undefined,
    /** How many of those digits are after the point; never negative. */
    readonly scale: number,
    /** The digits as a number, when the caller already has them as a safe integer. */
    knownSafe?: number,
  ) {
    const digits = coefficient === undefined ? knownSafe! : Number(coefficient);
    if (Number.isSafeInteger(digits)) {
      this.safeCoefficient = digits;
      this.big = undefined;
    } else {
      this.safeCoefficient = Number.NaN;
      this.big = coefficient;
    }
  }

  /** The digits, as an integer. */
  get coefficient(): bigint {
    return this.big ?? BigInt(this.safeCoefficient);
  }

  static readonly ZERO = new Decimal(0n, 0);
  static readonly ONE = new Decimal(1n, 0);

  /**
   * Parses decimal text exactly: `"0.90"`, `"9E-7"`, `"2.5e-06"`, `"-3"`, `"1_000"` is rejected.
   * @throws DecimalParseError when the text is not a finite decimal number.
   */
  static parse(text: string): Decimal {
    const match = DECIMAL_PATTERN.exec(text.trim());
    if (!match) throw new DecimalParseError(text);
    const [, sign, whole = '', fraction = '', exponentText] = match;
    if (whole === '' && fraction === '') throw new DecimalParseError(text);
    const exponent = exponentText ? Number.parseInt(exponentText, 10) : 0;
    if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > 400) throw new DecimalParseError(text);
    let coefficient = BigInt((whole || '0') + fraction);
    if (sign === '-') coefficient = -coefficient;
    return new Decimal(coefficient, fraction.length).shift(exponent).normalize();
  }

  /** A safe integer (token counts, request counts) or a bigint, exactly. */
  static of(value: number | bigint): Decimal {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) {
      throw new RangeError(`Decimal.of takes integers only, got ${value}; parse decimal text instead`);
    }
    return new Decimal(BigInt(value), 0);
  }

  static isDecimal(value: unknown): value is Decimal {
    return value instanceof Decimal;
  }

  /** Multiplies by 10^places (negative places divide), exactly. */
  shift(places: number): Decimal {
    if (places === 0 || this.coefficient === 0n) return places === 0 ? this : Decimal.ZERO;
    if (places < 0) return new Decimal(this.coefficient, this.scale - places).normalize();
    const keep = Math.min(places, this.scale);
    const coefficient = this.coefficient * 10n ** BigInt(places - keep);
    return new Decimal(coefficient, this.scale - keep).normalize();
  }

  add(other: Decimal): Decimal {
    const scale = Math.max(this.scale, other.scale);
    const a = this.safeRescaled(scale);
    const b = other.safeRescaled(scale);
    const sum = a + b;
    // Safe integers whose sum is one: exact in number arithmetic (NaN, from an unsafe side, fails the check).
    if (Number.isSafeInteger(sum) && Number.isSafeInteger(a) && Number.isSafeInteger(b)) return Decimal.ofSafe(sum, scale);
    return new Decimal(this.rescaled(scale) + other.rescaled(scale), scale).normalize();
  }

  sub(other: Decimal): Decimal {
    const scale = Math.max(this.scale, other.scale);
    const a = this.safeRescaled(scale);
    const b = other.safeRescaled(scale);
    const difference = a - b;
    if (Number.isSafeInteger(difference) && Number.isSafeInteger(a) && Number.isSafeInteger(b)) {
      return Decimal.ofSafe(difference, scale);
    }
    return new Decimal(this.rescaled(scale) - other.rescaled(scale), scale).normalize();
  }

  mul(other: Decimal): Decimal {
    return new Decimal(this.coefficient * other.coefficient, this.scale + other.scale).normalize();
  }

  /**
   * Multiplies by an integer count (tokens, requests), exactly. A rate's digits times a token count mostly
   * stays below 2^53, where integer arithmetic on a JavaScript number is exact (every integer there has an
   * exact representation, and so has the product of two when it is one): that case is done without bigint
   * work, the rest with bigints. Either way the result is the exact product; nothing is ever rounded.
   */
  times(count: number | bigint): Decimal {
    if (count === 0 || count === 0n) return Decimal.ZERO;
    if (typeof count === 'number') {
      // NaN (a coefficient past 2^53) makes the product NaN, which is not a safe integer: the bigint path takes it.
      const product = this.safeCoefficient * count;
      if (Number.isSafeInteger(count) && Number.isSafeInteger(product)) return Decimal.ofSafe(product, this.scale);
    }
    return new Decimal(this.coefficient * BigInt(count), this.scale).normalize();
  }

  /**
   * `coefficient × 10^-scale`, exactly, trailing zeros dropped; for sums built as integers at one scale (the
   * cost engine's). @throws RangeError for a negative or fractional scale.
   */
  static scaled(coefficient: bigint, scale: number): Decimal {
    if (!Number.isInteger(scale) || scale < 0) throw new RangeError(`a scale is a whole number of places, got ${scale}`);
    return new Decimal(coefficient, scale).normalize();
  }

  /**
   * `value × 10^-scale` for a safe integer `value` (|value| < 2^53), trailing zeros dropped with number
   * arithmetic (exact there). @throws RangeError for anything but a safe integer and a whole scale.
   */
  static fromSafeInteger(value: number, scale: number): Decimal {
    if (!Number.isSafeInteger(value)) throw new RangeError(`not a safe integer: ${value}`);
    if (!Number.isInteger(scale) || scale < 0) throw new RangeError(`a scale is a whole number of places, got ${scale}`);
    return Decimal.ofSafe(value, scale);
  }

  /** fromSafeInteger for callers that have checked both already (the hot paths here). */
  private static ofSafe(value: number, scale: number): Decimal {
    if (value === 0) return Decimal.ZERO;
    let digits = value;
    let places = scale;
    while (places > 0 && digits % 10 === 0) {
      digits /= 10;
      places -= 1;
    }
    return new Decimal(undefined, places, digits);
  }

  neg(): Decimal {
    return new Decimal(-this.coefficient, this.scale);
  }

  abs(): Decimal {
    return this.coefficient < 0n ? this.neg() : this;
  }

  cmp(other: Decimal): -1 | 0 | 1 {
    const scale = Math.max(this.scale, other.scale);
    const safeA = this.safeRescaled(scale);
    const safeB = other.safeRescaled(scale);
    if (Number.isSafeInteger(safeA) && Number.isSafeInteger(safeB)) return safeA < safeB ? -1 : safeA > safeB ? 1 : 0;
    const a = this.rescaled(scale);
    const b = other.rescaled(scale);
    return a < b ? -1 : a > b ? 1 : 0;
  }

  eq(other: Decimal): boolean {
    return this.cmp(other) === 0;
  }
  lt(other: Decimal): boolean {
    return this.cmp(other) < 0;
  }
  lte(other: Decimal): boolean {
    return this.cmp(other) <= 0;
  }
  gt(other: Decimal): boolean {
    return this.cmp(other) > 0;
  }
  gte(other: Decimal): boolean {
    return this.cmp(other) >= 0;
  }
  isZero(): boolean {
    return this.big === undefined ? this.safeCoefficient === 0 : this.big === 0n;
  }
  isNegative(): boolean {
    return this.big === undefined ? this.safeCoefficient < 0 : this.big < 0n;
  }
  isPositive(): boolean {
    return this.big === undefined ? this.safeCoefficient > 0 : this.big > 0n;
  }
  isInteger(): boolean {
    return this.scale === 0;
  }

  static max(a: Decimal, b: Decimal): Decimal {
    return a.gte(b) ? a : b;
  }
  static min(a: Decimal, b: Decimal): Decimal {
    return a.lte(b) ? a : b;
  }
  /**
   * Σ values, exactly, with one Decimal built at the end: the terms are added as integers at the largest scale,
   * in number arithmetic while every term and partial sum is a safe integer (exact there), else in bigints.
   */
  static sum(values: readonly Decimal[]): Decimal {
    if (values.length === 0) return Decimal.ZERO;
    if (values.length === 1) return values[0]!;
    let scale = 0;
    for (const value of values) if (value.scale > scale) scale = value.scale;
    let safeTotal = 0;
    for (const value of values) {
      const term = value.safeRescaled(scale);
      safeTotal += term;
      if (!Number.isSafeInteger(term) || !Number.isSafeInteger(safeTotal)) {
        safeTotal = Number.NaN;
        break;
      }
    }
    if (!Number.isNaN(safeTotal)) return Decimal.ofSafe(safeTotal, scale);
    let coefficient = 0n;
    for (const value of values) coefficient += value.rescaled(scale);
    return new Decimal(coefficient, scale).normalize();
  }

  /**
   * Rounds to `places` digits after the point. The one place money is rounded; callers name the mode:
   * `half-even` (banker's, for display), `up` (away from zero, for holds that must cover), `down` (toward zero).
   */
  round(places: number, mode: RoundingMode = 'half-even'): Decimal {
    if (this.scale <= places) return this;
    const divisor = 10n ** BigInt(this.scale - places);
    const negative = this.coefficient < 0n;
    const magnitude = negative ? -this.coefficient : this.coefficient;
    let quotient = magnitude / divisor;
    const remainder = magnitude % divisor;
    if (remainder !== 0n) {
      if (mode === 'up') quotient += 1n;
      else if (mode === 'half-even') {
        const twice = remainder * 2n;
        if (twice > divisor || (twice === divisor && quotient % 2n === 1n)) quotient += 1n;
      } else if (mode === 'half-up') {
        if (remainder * 2n >= divisor) quotient += 1n;
      }
    }
    return new Decimal(negative ? -quotient : quotient, places).normalize();
  }

  /** Plain notation, no exponent, no trailing zeros: `0.0000009`, `12.5`, `0`. */
  toString(): string {
    this.#text ??= this.format();
    return this.#text;
  }

  private format(): string {
    const negative = this.isNegative();
    // A safe integer prints exactly as a number (no exponent below 2^53).
    const digits = this.big === undefined ? String(Math.abs(this.safeCoefficient)) : (negative ? -this.big : this.big).toString();
    if (this.scale === 0) return (negative ? '-' : '') + digits;
    const padded = digits.padStart(this.scale + 1, '0');
    const point = padded.length - this.scale;
    return `${negative ? '-' : ''}${padded.slice(0, point)}.${padded.slice(point)}`;
  }

  /** Fixed number of places (rounded half-even), for tables: `toFixed(6)` gives `0.000001`. */
  toFixed(places: number): string {
    const rounded = this.round(places);
    const text = rounded.toString();
    if (places === 0) return text;
    const [whole, fraction = ''] = text.split('.');
    return `${whole}.${fraction.padEnd(places, '0')}`;
  }

  toJSON(): string {
    return this.toString();
  }

  /**
   * A JavaScript number, for metrics and display only (Prometheus takes floats). Never feed it back
   * into a price, a cost or a balance.
   */
  toNumberForDisplay(): number {
    return Number(this.toString());
  }

  /** A bigint when the value is an integer (token balances). @throws RangeError otherwise. */
  toBigInt(): bigint {
    if (this.scale !== 0) throw new RangeError(`${this.toString()} is not an integer`);
    return this.coefficient;
  }

  /** The coefficient at `scale` as a number; not a safe integer (NaN, or past 2^53) when number arithmetic cannot hold it. */
  private safeRescaled(scale: number): number {
    return this.safeCoefficient * (SAFE_POWERS_OF_TEN[scale - this.scale] ?? Number.NaN);
  }

  private rescaled(scale: number): bigint {
    const shift = scale - this.scale;
    if (shift === 0) return this.coefficient;
    return this.coefficient * (POWERS_OF_TEN[shift] ?? 10n ** BigInt(shift));
  }

  /** Drops trailing zeros after the point, so equal values have one representation. */
  private normalize(): Decimal {
    let { coefficient, scale } = this;
    if (coefficient === 0n) return scale === 0 ? this : Decimal.ZERO;
    while (scale > 0 && coefficient % 10n === 0n) {
      coefficient /= 10n;
      scale -= 1;
    }
    return scale === this.scale ? this : new Decimal(coefficient, scale);
  }
}

export type RoundingMode = 'half-even' | 'half-up' | 'up' | 'down';

const DECIMAL_PATTERN = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

export class DecimalParseError extends Error {
  constructor(readonly text: string) {
    super(`not a finite decimal number: ${JSON.stringify(text)}`);
    this.name = 'DecimalParseError';
  }
}
