/**
 * The decode limits every connection starts from, unless a manager's
 * `limits` say otherwise.
 *
 * @module
 */

/** Deepest nesting sent or accepted by default; deeper values are almost always cycles. */
export const MAX_DEPTH = 512;

/** Most items in one collection accepted by default. */
export const MAX_LENGTH = 1 << 22;
