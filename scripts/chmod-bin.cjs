// Makes package.json's bin files executable after tsc wrote them (tsc creates files 0644, and
// `npx ctxwin` in a checkout runs dist/cli.js directly: without this it fails with "Permission
// denied" unless npm happened to fix the mode while linking bins).
const { chmodSync, readFileSync, statSync } = require("node:fs");
const { join } = require("node:path");

const root = join(__dirname, "..");
const { bin } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
for (const file of Object.values(typeof bin === "string" ? { bin } : bin ?? {})) {
  const path = join(root, file);
  chmodSync(path, statSync(path).mode | 0o111);
}
