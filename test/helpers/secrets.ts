import { inject } from "vitest";

const SECRET_NAME = /secret|password|passwd|token|credential|private.?key|api.?key/i;
// A URL carrying a password: scheme://user:password@host or scheme://:password@host.
const URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]+@/i;

/** The secrets of the test services, which no provider may echo back. */
export function knownSecrets(): string[] {
  const { s3 } = inject("services");
  return [s3?.secretAccessKey ?? ""].filter((s) => s.length >= 4);
}

/**
 * Every place in `facts` that looks like a secret: a field named like one with a non-empty string,
 * a URL with a password in it, or any of `secrets` verbatim. Empty means clean.
 */
export function findSecrets(facts: unknown, secrets: string[], path = "$"): string[] {
  if (typeof facts === "string") {
    const found: string[] = [];
    if (URL_WITH_PASSWORD.test(facts)) found.push(`${path}: a URL with a password`);
    for (const secret of secrets) if (facts.includes(secret)) found.push(`${path}: a configured secret`);
    return found;
  }
  if (facts === null || typeof facts !== "object") return [];
  const found: string[] = [];
  for (const [name, value] of Object.entries(facts)) {
    const here = `${path}.${name}`;
    if (SECRET_NAME.test(name) && typeof value === "string" && value.length > 0) {
      found.push(`${here}: named like a secret`);
    }
    found.push(...findSecrets(value, secrets, here));
  }
  return found;
}
