// Command-line options of the bench scripts: `--name value` pairs and `--flag` switches.
const argv = process.argv.slice(2);

/** The value after `--name`, or `dflt` when the option is absent. */
export function opt(name, dflt) {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
}

/** True when `--name` is present. */
export function flag(name) {
  return argv.includes(`--${name}`);
}
