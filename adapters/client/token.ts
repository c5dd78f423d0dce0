/** A token, or a function called before each use of it (to refresh an expiring token). */
export type TokenSource = string | (() => string | Promise<string>);

/** The token to send now: the string, or what the function gives (its failure as a rejection). */
export async function currentToken(t: TokenSource): Promise<string> {
  return typeof t === 'function' ? t() : t;
}
