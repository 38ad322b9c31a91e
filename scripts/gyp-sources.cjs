// Lists C++ sources for binding.gyp: `node scripts/gyp-sources.cjs dir1 dir2 ...` prints every
// *.cpp directly inside those directories (none for a missing directory), one per line.
const fs = require("fs");
const path = require("path");
const out = [];
for (const dir of process.argv.slice(2)) {
  if (!fs.existsSync(dir)) continue;
  for (const f of fs.readdirSync(dir).sort()) if (f.endsWith(".cpp")) out.push(path.posix.join(dir, f));
}
console.log(out.join("\n"));
