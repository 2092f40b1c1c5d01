/**
 * Secrets ferry learns (passwords, tokens, credential-helper answers) are registered here, and every
 * line ferry writes goes through redact(), --debug included, so a credential can never be printed
 * even by an error message that quotes a server's reply.
 */
const secrets = new Set<string>();

export function registerSecret(value: string | undefined): void {
  // Very short values would redact ordinary words; they are not credentials worth the noise.
  if (value !== undefined && value.length >= 4) {
    secrets.add(value);
    // Basic auth headers carry base64 of "user:password"; the password alone is registered too.
  }
}

export function redact(text: string): string {
  let out = text;
  for (const s of secrets) {
    if (out.includes(s)) out = out.split(s).join('***');
  }
  // Authorization headers and bearer tokens, whatever their origin.
  out = out.replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, '$1 ***');
  return out;
}

/** Only for tests. */
export function clearSecrets(): void {
  secrets.clear();
}
