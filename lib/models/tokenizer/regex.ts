/**
 * Regular expressions of HF tokenizers (Oniguruma / Rust `regex` syntax) translated to JS.
 *
 * HF compiles `Split` patterns and the ByteLevel pre-tokenizer's built-in pattern with Oniguruma,
 * where `\s` is Unicode White_Space (it includes U+0085 and excludes U+FEFF, unlike JS `\s`),
 * `\d` is any decimal digit and `\w` is Unicode word characters, and `(?i:...)` scopes
 * case-insensitivity to a group (the Llama-3 / Qwen2 patterns use it). `translatePattern`
 * rewrites those into JS `u`-mode syntax so that the same text splits the same way; constructs
 * JS cannot express (possessive quantifiers, atomic groups, nested classes) are reported as
 * unsupported instead of silently splitting differently.
 */

/** Unicode White_Space, the members of Oniguruma's (and Rust regex's) `\s`, for use inside `[...]`. */
export const WS_CLASS = "\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
/** Unicode word characters (Oniguruma `\w`), for use inside `[...]`. */
export const WORD_CLASS = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}";

/** The GPT-2 pre-tokenization pattern, as HF's ByteLevel pre-tokenizer uses it (Oniguruma syntax). */
export const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** The Llama-3 pre-tokenization pattern (for `trainBpe({ pattern })`, as in its tokenizer.json). */
export const LLAMA3_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const isAsciiLetter = (c: string): boolean => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z");
const otherCase = (c: string): string => (c >= "a" && c <= "z" ? c.toUpperCase() : c.toLowerCase());

/**
 * Translates an Oniguruma pattern to JS source for `new RegExp(source, "gu")`.
 * Returns `{ source, flags }` or throws an Error (with a short reason) for unsupported syntax.
 */
export function translatePattern(pattern: string): { source: string; flags: string } {
  let out = "";
  let flags = "gu";
  let i = 0;
  let inClass = false;
  let classStart = false; // just after "[" or "[^"
  const groups: boolean[] = []; // per open group: does it start a case-insensitive scope?
  let ci = 0; // depth of (?i: scopes

  if (pattern.startsWith("(?i)")) {
    flags += "i";
    i = 4;
  }
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === "\\") {
      const n = pattern[i + 1];
      if (n === undefined) throw new Error("pattern ends with a lone backslash");
      if (n === "s") out += inClass ? WS_CLASS : `[${WS_CLASS}]`;
      else if (n === "S") {
        if (inClass) throw new Error("\\S inside a character class is not supported");
        out += `[^${WS_CLASS}]`;
      } else if (n === "w") out += inClass ? WORD_CLASS : `[${WORD_CLASS}]`;
      else if (n === "W") {
        if (inClass) throw new Error("\\W inside a character class is not supported");
        out += `[^${WORD_CLASS}]`;
      } else if (n === "d") out += "\\p{Nd}";
      else if (n === "D") out += "\\P{Nd}";
      else if (n === "h" || n === "H" || n === "A" || n === "z" || n === "Z" || n === "G" || n === "K" || n === "R" || n === "X") {
        throw new Error(`the escape \\${n} is not supported`);
      } else if (n === "p" || n === "P") {
        const close = pattern.indexOf("}", i);
        if (pattern[i + 2] !== "{" || close < 0) throw new Error(`malformed \\${n} escape`);
        out += pattern.slice(i, close + 1);
        i = close + 1;
        classStart = false;
        continue;
      } else out += "\\" + n; // \n, \t, \x41, \. … pass through (not case-folded)
      i += 2;
      classStart = false;
      continue;
    }
    if (inClass) {
      if (c === "[" ) throw new Error("nested character classes are not supported");
      if (c === "]" && !classStart) {
        inClass = false;
        out += c;
        i++;
        continue;
      }
      if (c === "&" && pattern[i + 1] === "&") throw new Error("class intersection (&&) is not supported");
      if (ci > 0 && isAsciiLetter(c)) {
        // a-z style range → add the other case's range too; a single letter → both cases
        if (pattern[i + 1] === "-" && pattern[i + 2] !== undefined && isAsciiLetter(pattern[i + 2]!) && pattern[i + 2] !== "]") {
          const hi = pattern[i + 2]!;
          out += `${c}-${hi}${otherCase(c)}-${otherCase(hi)}`;
          i += 3;
        } else {
          out += c + otherCase(c);
          i++;
        }
        classStart = false;
        continue;
      }
      if (c === "^" && classStart && out.endsWith("[")) {
        out += c;
        i++;
        continue; // still at class start
      }
      out += c;
      i++;
      classStart = false;
      continue;
    }
    if (c === "[") {
      inClass = true;
      classStart = true;
      out += c;
      i++;
      continue;
    }
    if (c === "(") {
      if (pattern.startsWith("(?i:", i)) {
        groups.push(true);
        ci++;
        out += "(?:";
        i += 4;
        continue;
      }
      if (pattern.startsWith("(?>", i)) throw new Error("atomic groups (?>...) are not supported");
      if (pattern[i + 1] === "?" && /^[imsx-]/.test(pattern[i + 2] ?? "")) throw new Error("inline flag groups other than a leading (?i) or (?i:...) are not supported");
      groups.push(false);
      out += c;
      i++;
      continue;
    }
    if (c === ")") {
      if (groups.pop()) ci--;
      out += c;
      i++;
      continue;
    }
    if ((c === "+" || c === "*" || c === "?" || c === "}") && pattern[i + 1] === "+") {
      throw new Error("possessive quantifiers (?+, *+, ++) are not supported");
    }
    if (ci > 0 && isAsciiLetter(c)) {
      out += `[${c}${otherCase(c)}]`;
      i++;
      continue;
    }
    out += c;
    i++;
  }
  if (inClass) throw new Error("unterminated character class");
  return { source: out, flags };
}

/** Compiles an Oniguruma pattern to a global, unicode JS RegExp (throws Error if unsupported). */
export function compilePattern(pattern: string): RegExp {
  const { source, flags } = translatePattern(pattern);
  return new RegExp(source, flags);
}

/** Escapes a literal string for use in a RegExp (valid with and without the `u` flag). */
export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
