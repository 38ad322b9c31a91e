#!/usr/bin/env node
// Builds the optional CUDA addon (build-cuda/Release/ctxwin_cuda.node) with cmake-js.
// Run by `npm install` (after node-gyp-build) and by `npm run build:cuda` (--force).
//
// Policy (docs: ../../shared/PACKAGING.md "Install-time policy"):
//   CTXWIN_CUDA (or `npm install --ctxwin-cuda=...`, i.e. npm_config_ctxwin_cuda):
//     0 | skip | off | false   never build
//     1 | force | on | true    build; a failure fails this script (exit 1)
//     auto (default)           build when nvcc is found; a failure prints the reason and a
//                              hint and exits 0: the CPU backend still works
//   --force                    same as CTXWIN_CUDA=1
//   --verbose | CTXWIN_CUDA_VERBOSE=1   show the compiler output (else it goes to a log file)
//   CTXWIN_CUDA_ARCHS          GPU architectures (CMake syntax, commas allowed), e.g. 86 or 80,90
//   CUDACXX / CUDA_PATH / CUDA_HOME   which nvcc; CUDAHOSTCXX: host compiler for nvcc
//   CTXWIN_CUDA_WERROR=1       warnings are errors (CI)
//   CTXWIN_CUDA_ATTENTION=0    leave the CUDA attention kernels out (attention on CUDA then throws)
//   JOBS=N                     parallel compile jobs (default: one per CPU core), as for node-gyp
//
// Prebuilt addon: in auto mode, when prebuilds/<platform>-<arch>/cuda/ctxwin_cuda.node (made by
// scripts/prebuild.sh, shipped in the npm package) loads in a child process, nothing is compiled.
// It is compiled anyway with --force / CTXWIN_CUDA=1, npm_config_build_from_source=true, or when
// the prebuild loads but the NVIDIA driver is older than its CUDA runtime and nvcc is here.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus } from "node:os";
import { delimiter, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "build-cuda");
const addonPath = join(outDir, "Release", "ctxwin_cuda.node");
const logPath = join(outDir, "build.log");
const args = process.argv.slice(2);
const isWin = process.platform === "win32";
const exe = (name) => (isWin ? `${name}.exe` : name);

const say = (msg) => console.log(`ctxwin: ${msg}`);

function mode() {
  if (args.includes("--force")) return "force";
  const raw = (process.env.CTXWIN_CUDA ?? process.env.npm_config_ctxwin_cuda ?? "auto").trim().toLowerCase();
  if (["0", "skip", "off", "false", "no", "ignore"].includes(raw)) return "skip";
  if (["1", "force", "on", "true", "yes"].includes(raw)) return "force";
  if (raw !== "auto" && raw !== "") say(`CTXWIN_CUDA=${raw} not understood (0/skip, 1/force, auto): using auto`);
  return "auto";
}

const isFile = (p) => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};

// nvcc: CUDACXX, CUDA_PATH/bin, CUDA_HOME/bin, /usr/local/cuda*/bin (newest first), PATH.
function findNvcc() {
  if (process.env.CUDACXX) return isFile(process.env.CUDACXX) ? process.env.CUDACXX : null;
  const candidates = [];
  for (const v of ["CUDA_PATH", "CUDA_HOME", "CUDA_ROOT"]) if (process.env[v]) candidates.push(join(process.env[v], "bin", exe("nvcc")));
  if (!isWin) {
    candidates.push("/usr/local/cuda/bin/nvcc");
    let versioned = [];
    try {
      versioned = readdirSync("/usr/local").filter((d) => /^cuda-\d+(\.\d+)*$/.test(d));
    } catch {}
    const ver = (d) => d.slice(5).split(".").map(Number);
    versioned.sort((a, b) => {
      const [x, y] = [ver(a), ver(b)];
      for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (y[i] ?? 0) - (x[i] ?? 0);
      return 0;
    });
    for (const d of versioned) candidates.push(join("/usr/local", d, "bin", "nvcc"));
  }
  for (const dir of (process.env.PATH ?? "").split(delimiter)) if (dir) candidates.push(join(dir, exe("nvcc")));
  return candidates.find(isFile) ?? null;
}

function findCmakeJs() {
  const local = join(root, "node_modules", "cmake-js", "bin", "cmake-js");
  if (isFile(local)) return local;
  try {
    return createRequire(join(root, "package.json")).resolve("cmake-js/bin/cmake-js");
  } catch {
    return null;
  }
}

// Lines of the log that explain a failure (compiler/CMake errors), else its tail.
function failureExcerpt() {
  let text = "";
  try {
    text = readFileSync(logPath, "utf8");
  } catch {
    return [];
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() && !/^info RUN/.test(l));
  const errors = lines.filter((l) => /error|fatal|not found|unsupported|CMake Error/i.test(l) && !/^\s*-- /.test(l));
  return (errors.length ? errors.slice(0, 12) : lines.slice(-15)).map((l) => (l.length > 300 ? l.slice(0, 300) + "..." : l));
}

/** The prebuilt CUDA addon shipped in the package (lib/backend.ts looks there too). */
const prebuiltAddonPath = join(root, "prebuilds", `${process.platform}-${process.arch}`, "cuda", "ctxwin_cuda.node");

// Loads the prebuild in a child process (a crash or a missing shared library stays there) and
// probes the device: { loaded, reason?, probe? } (probe: null when CUDA works here, else why not).
function checkPrebuild() {
  const code =
    "const a = require(process.argv[1]); let probe = null;" +
    "try { if (a.probe) a.probe(); } catch (e) { probe = String((e && e.message) || e); }" +
    "process.stdout.write(JSON.stringify({ probe }));";
  const r = spawnSync(process.execPath, ["-e", code, prebuiltAddonPath], { encoding: "utf8", timeout: 120_000 });
  if (r.status === 0) {
    try {
      return { loaded: true, probe: JSON.parse(r.stdout).probe };
    } catch {}
  }
  const err = (r.stderr || "").split(/\r?\n/).find((l) => /Error|error:/.test(l)) ?? (r.error?.message || `exit ${r.status ?? r.signal}`);
  return { loaded: false, reason: err.trim().slice(0, 300) };
}

function resetCache() {
  rmSync(join(outDir, "CMakeCache.txt"), { force: true });
  rmSync(join(outDir, "CMakeFiles"), { recursive: true, force: true });
}

function main() {
  const m = mode();
  if (m === "skip") {
    say("CUDA backend skipped (CTXWIN_CUDA=0)");
    return 0;
  }
  const fromSource = /^(1|true)$/i.test(process.env.npm_config_build_from_source ?? "");
  const nvcc = findNvcc();
  if (m === "auto" && !fromSource && existsSync(prebuiltAddonPath)) {
    const shown = relative(process.cwd(), prebuiltAddonPath);
    const pre = checkPrebuild();
    // The addon's own probe message for a driver older than its runtime (native/src/cuda/cuda_device.cpp).
    const oldDriver = pre.loaded && pre.probe && /the NVIDIA driver supports CUDA/.test(pre.probe);
    if (pre.loaded && !(oldDriver && nvcc)) {
      say(`using the prebuilt CUDA addon ${shown}${pre.probe ? ` (CUDA is not usable here: ${pre.probe})` : ""}; \`npm_config_build_from_source=true npm rebuild ctxwin\` compiles it instead`);
      return 0;
    }
    say(pre.loaded ? `the prebuilt CUDA addon does not suit this driver (${pre.probe}): compiling it from source` : `the prebuilt CUDA addon ${shown} does not load here (${pre.reason})${nvcc ? ": compiling it from source" : ""}`);
  }
  if (!nvcc) {
    if (m === "auto") {
      const why = process.env.CUDACXX ? `CUDACXX=${process.env.CUDACXX} is not a file` : "no nvcc found";
      say(`${why}: CPU backend only (set CUDACXX or CUDA_PATH and run \`npm run build:cuda\` to build the CUDA backend)`);
      return 0;
    }
    say(`CUDA build failed: nvcc not found${process.env.CUDACXX ? ` (CUDACXX=${process.env.CUDACXX} is not a file)` : ""}; set CUDACXX=/path/to/nvcc or CUDA_PATH`);
    return 1;
  }
  const cmakeJs = findCmakeJs();
  const cmake = spawnSync("cmake", ["--version"], { stdio: "ignore" });
  const missing = !cmakeJs ? "cmake-js is not installed (npm install cmake-js)" : cmake.error || cmake.status !== 0 ? "CMake is not installed (https://cmake.org, or your package manager)" : null;
  if (missing) {
    say(`CUDA backend not built: ${missing}`);
    return m === "force" ? 1 : 0;
  }

  const verbose = args.includes("--verbose") || /^(1|true|yes)$/i.test(process.env.CTXWIN_CUDA_VERBOSE ?? "");
  const archs = process.env.CTXWIN_CUDA_ARCHS?.trim();
  const env = { ...process.env, CUDACXX: nvcc };  // CMake picks up the nvcc found here
  const common = ["-d", root, "-O", outDir];
  if (archs) common.push(`--CDCTXWIN_CUDA_ARCHS=${archs}`);
  // Options are passed on every configure, so that none sticks in the cache from an earlier run.
  const flag = (v, dflt) => (v === undefined || v === "" ? dflt : /^(1|true|yes|on)$/i.test(v));
  common.push(`--CDCTXWIN_WERROR=${flag(process.env.CTXWIN_CUDA_WERROR, false) ? "ON" : "OFF"}`);
  common.push(`--CDCTXWIN_CUDA_ATTENTION=${flag(process.env.CTXWIN_CUDA_ATTENTION, true) ? "ON" : "OFF"}`);
  const parallel = /^\d+$/.test(process.env.JOBS ?? "") && Number(process.env.JOBS) > 0 ? process.env.JOBS : String(Math.max(1, cpus().length));

  mkdirSync(outDir, { recursive: true });
  // A cache made with another nvcc would keep using that one: start that configuration over.
  const cachePath = join(outDir, "CMakeCache.txt");
  if (existsSync(cachePath)) {
    const cached = /^CMAKE_CUDA_COMPILER:[A-Z]+=(.*)$/m.exec(readFileSync(cachePath, "utf8"))?.[1]?.trim();
    if (cached && cached !== nvcc) resetCache();
  }
  const started = Date.now();
  say(`building the CUDA backend with ${nvcc}${archs ? ` for ${archs}` : ""} (${relative(process.cwd(), outDir) || "."}; ${verbose ? "" : `log: ${relative(process.cwd(), logPath)}; `}a few minutes)...`);
  const logFd = verbose ? null : openSync(logPath, "w");
  const run = (command) => {
    const r = spawnSync(process.execPath, [cmakeJs, command, ...common, ...(command === "build" ? ["-p", parallel] : [])], {
      cwd: root,
      env,
      stdio: verbose ? "inherit" : ["ignore", logFd, logFd],
    });
    return r.error ? r.error.message : r.status === 0 ? null : r.signal ? `cmake-js ${command} killed by ${r.signal}` : `cmake-js ${command} exited with ${r.status}`;
  };
  let failure;
  try {
    // configure every time (it picks up CTXWIN_CUDA_ARCHS and new sources), then an incremental build.
    failure = run("configure");
    if (failure && existsSync(cachePath)) {
      // A stale cache (another toolkit or host compiler) can make configure fail: start over once.
      resetCache();
      failure = run("configure");
    }
    if (!failure) failure = run("build");
    if (!failure && !existsSync(addonPath)) failure = `the build finished but ${addonPath} is missing`;
  } finally {
    if (logFd !== null) closeSync(logFd);
  }
  const secs = ((Date.now() - started) / 1000).toFixed(0);
  if (!failure) {
    say(`built ${relative(process.cwd(), addonPath)} in ${secs} s`);
    return 0;
  }
  say(`CUDA build failed after ${secs} s: ${failure}`);
  // An addon left from an earlier build would not match these sources: remove it.
  rmSync(addonPath, { force: true });
  if (!verbose) {
    for (const l of failureExcerpt()) console.log(`  | ${l}`);
    say(`full log: ${logPath}`);
  }
  say(
    "hints: CUDACXX=/path/to/nvcc picks the toolkit; CUDAHOSTCXX=/path/to/g++ if nvcc rejects your compiler; " +
      "CTXWIN_CUDA_ARCHS=<sm, e.g. 86> for your GPU; `npm run build:cuda -- --verbose` shows everything; " +
      "CTXWIN_CUDA=0 skips the CUDA backend.",
  );
  if (m === "force") return 1;
  say("continuing without the CUDA backend: ctxwin runs on the CPU");
  return 0;
}

process.exitCode = main();
