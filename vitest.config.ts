import { defineConfig } from "vitest/config";

// test/gpu/ needs a CUDA device: it runs only with CTXWIN_GPU_TESTS=1, or when named on the
// command line (`npm run test:gpu` = `vitest run test/gpu`).
const gpu = process.env.CTXWIN_GPU_TESTS === "1" || process.argv.some((a) => /(^|\/)test\/gpu(\/|$)/.test(a));

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**", ...(gpu ? [] : ["test/gpu/**"])],
    // one native addon per worker process: forks, not threads
    pool: "forks",
    // CTXWIN_TEST_DEVICE=cuda: tensors without an explicit device go to CUDA (test/setup-device.ts)
    setupFiles: ["test/setup-device.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // the suites import "ctxwin" (the package's self-reference, i.e. dist/): load it natively
    server: { deps: { external: [/\/dist\//, /\.node$/] } },
  },
});
