import { defineConfig } from "vitest/config";

// test/gpu/ needs a CUDA device: it runs only with CTXWIN_GPU_TESTS=1 (or `npm run test:gpu`).
const gpu = process.env.CTXWIN_GPU_TESTS === "1";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**", ...(gpu ? [] : ["test/gpu/**"])],
    // a native addon per worker process: forks, not threads
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // the suites load "ctxwin" (the package's self-reference, i.e. dist/) natively, untransformed
    server: { deps: { external: [/\/dist\//, /\.node$/] } },
  },
});
