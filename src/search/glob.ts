/**
 * Filename globs: `*` any run of characters but `/`, `**` any run at all, `?` one character but
 * `/`, anything else itself. Matched by stepping the set of reachable positions through the
 * pattern, so a match costs pattern length × name length at worst: a pattern of many stars cannot
 * make it backtrack exponentially, as the same glob compiled to a regular expression could.
 */

type Token = { kind: "char"; char: string } | { kind: "one" } | { kind: "star" } | { kind: "globstar" };

export function compileGlob(glob: string): (name: string) => boolean {
  const tokens: Token[] = [];
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") {
      const globstar = glob[i + 1] === "*";
      while (glob[i + 1] === "*") i++;
      const last = tokens[tokens.length - 1];
      // Consecutive stars are one star (or one globstar): the same matches, fewer steps.
      if (last?.kind === "star" || last?.kind === "globstar") {
        if (globstar) tokens[tokens.length - 1] = { kind: "globstar" };
      } else tokens.push({ kind: globstar ? "globstar" : "star" });
    } else if (c === "?") tokens.push({ kind: "one" });
    else tokens.push({ kind: "char", char: c });
  }
  const literal = tokens.every((t) => t.kind === "char") ? glob : null;
  // Fixed text before the first and after the last wildcard rejects most names at once.
  const prefix = literalRun(tokens, 0, 1);
  const suffix = literalRun(tokens, tokens.length - 1, -1);
  const middle = tokens.slice(prefix.length, tokens.length - suffix.length);
  const only = middle.length === 1 ? middle[0]!.kind : null;
  let reach = new Uint8Array(0);
  let next = new Uint8Array(0);
  return (whole) => {
    if (literal !== null) return whole === literal;
    if (whole.length < prefix.length + suffix.length || !whole.startsWith(prefix) || !whole.endsWith(suffix))
      return false;
    const name = whole.slice(prefix.length, whole.length - suffix.length);
    if (only === "globstar") return true;
    if (only === "star") return !name.includes("/");
    if (reach.length < name.length + 1) {
      reach = new Uint8Array(name.length + 1);
      next = new Uint8Array(name.length + 1);
    }
    reach.fill(0, 0, name.length + 1);
    reach[0] = 1;
    for (const token of middle) {
      next.fill(0, 0, name.length + 1);
      let any = false;
      if (token.kind === "star" || token.kind === "globstar") {
        let on = false;
        for (let p = 0; p <= name.length; p++) {
          if (reach[p]) on = true;
          else if (on && token.kind === "star" && name[p - 1] === "/") on = false;
          if (on) {
            next[p] = 1;
            any = true;
          }
        }
      } else {
        for (let p = 0; p < name.length; p++) {
          if (!reach[p]) continue;
          const c = name[p]!;
          if (token.kind === "one" ? c !== "/" : c === token.char) {
            next[p + 1] = 1;
            any = true;
          }
        }
      }
      if (!any) return false;
      [reach, next] = [next, reach];
    }
    return reach[name.length] === 1;
  };
}

/** The literal characters from `start` stepping by `step` up to the first wildcard. */
function literalRun(tokens: Token[], start: number, step: 1 | -1): string {
  let run = "";
  for (let i = start; i >= 0 && i < tokens.length; i += step) {
    const t = tokens[i]!;
    if (t.kind !== "char") break;
    run = step === 1 ? run + t.char : t.char + run;
  }
  return run;
}
