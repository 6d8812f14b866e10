/**
 * A printable form of any value for an error message. Never throws, even for values whose
 * conversion to a string does (`Object.create(null)`, `{ toString: 0 }`), so that a check on a
 * bad argument always ends in its labelled TypeError/RangeError.
 * @internal
 */
export function show(v: unknown): string {
  try {
    return String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}
