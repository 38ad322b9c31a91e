/**
 * vitest setup (every worker): CTXWIN_TEST_DEVICE=cuda makes tensors, models and initialisers
 * that name no device live on CUDA, so the op, nn, model and training suites check the CUDA
 * kernels against the same float64 references as the CPU (scripts/gpu-check.sh, step "suites").
 */
import { setDefaultDevice, type Device } from "ctxwin";

const device = process.env.CTXWIN_TEST_DEVICE;
if (device) setDefaultDevice(device as Device);
