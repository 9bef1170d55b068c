/**
 * Numeric limits every store shares, written once.
 */

/** The largest valid `Date` value in milliseconds (ECMAScript's limit, ±8.64e15). */
export const MAX_DATE_MS = 8.64e15;

/**
 * The largest delay `setTimeout` accepts (2^31 − 1 ms, about 24.8 days); a larger one
 * fires at once. The one upper bound of every millisecond option that arms a timer.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
