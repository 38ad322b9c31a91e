// Loads cuBLAS at run time (see cublas_loader.h for why, and for where every declared value
// comes from). Tried in order: CTXWIN_CUBLAS_PATH (a file, or a folder holding libcublas.so.N;
// only that when set), then the soname of the CUDA major version this addon was built with, then
// libcublas.so.13, .so.12 and libcublas.so (the dynamic loader's search), then the NVIDIA pip
// packages under Python site-packages (cublas_search.h: where PyTorch's cuBLAS lives on a host
// without the CUDA toolkit's). A library that loads but cannot create a handle (an old driver for
// that cuBLAS) is passed over for the next one. Failures are silent (the fallback kernels run) but
// remembered in gemm_backend_name(), which also names the file that was loaded (`ctxwin doctor`
// prints it as "gemm"); CTXWIN_CUBLAS=0 skips cuBLAS altogether.
#include "cuda/ops/cublas_loader.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <string>
#include <vector>

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <dlfcn.h>
#include <sys/stat.h>
#endif

#include "cuda/cuda_device.h"
#include "cuda/ops/cublas_search.h"
#include "cuda/ops/gemm.h"

namespace ctxwin::cuda {

namespace {

// The name is published as an immutable string that is never freed: a reader on another thread
// may still hold the previous pointer (a few strings leak per process, at most).
std::atomic<const char*> g_backend_name{"not chosen yet (the first matmul loads cuBLAS)"};
const std::string* g_cublas_name = nullptr;  // "cublas 13.0.2 (/path/libcublas.so.13)", set once by load()

void publish(const std::string& s) { g_backend_name.store((new std::string(s))->c_str(), std::memory_order_release); }

bool disabled_by_env() {
  const char* v = std::getenv("CTXWIN_CUBLAS");
  if (!v) return false;
  std::string s(v);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return (char)std::tolower(ch); });
  return s == "0" || s == "off" || s == "false" || s == "no";
}

const char* status_name(cublas::Status s) {
  switch (s) {
    case 0: return "CUBLAS_STATUS_SUCCESS";
    case 1: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case 3: return "CUBLAS_STATUS_ALLOC_FAILED";
    case 7: return "CUBLAS_STATUS_INVALID_VALUE";
    case 8: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case 11: return "CUBLAS_STATUS_MAPPING_ERROR";
    case 13: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case 14: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case 15: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case 16: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "unknown status";
}

std::string status_text(cublas::Status s) { return "status " + std::to_string(s) + " (" + status_name(s) + ")"; }

// ---- dynamic loading ---------------------------------------------------------------------------

std::string last_load_error() {
#ifdef _WIN32
  return "LoadLibrary error " + std::to_string((unsigned long)GetLastError());
#else
  const char* e = dlerror();
  return e ? e : "unknown error";
#endif
}

void* open_library(const std::string& name) {
#ifdef _WIN32
  return (void*)LoadLibraryA(name.c_str());
#else
  return dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
#endif
}

void* find_symbol(void* lib, const char* name) {
#ifdef _WIN32
  return (void*)GetProcAddress((HMODULE)lib, name);
#else
  return dlsym(lib, name);
#endif
}

// The file a loaded library came from (the dynamic loader's pick for a bare soname), or `name`.
std::string loaded_from(void* lib, void* symbol, const std::string& name) {
#ifdef _WIN32
  (void)symbol;
  char buf[1024];
  DWORD n = GetModuleFileNameA((HMODULE)lib, buf, sizeof buf);
  return n > 0 && n < sizeof buf ? std::string(buf, n) : name;
#else
  (void)lib;
  Dl_info info{};
  return dladdr(symbol, &info) && info.dli_fname && *info.dli_fname ? std::string(info.dli_fname) : name;
#endif
}

bool is_directory(const std::string& path) {
#ifdef _WIN32
  DWORD a = GetFileAttributesA(path.c_str());
  return a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY);
#else
  struct stat st{};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
#endif
}

struct Candidate {
  std::string name;    // what dlopen gets: a soname or a full path
  const char* origin;  // why it is tried, for gemm_backend_name()
};

std::vector<Candidate> candidates() {
  const int own_major = CUDART_VERSION / 1000;
  if (const char* path = std::getenv("CTXWIN_CUBLAS_PATH"); path && *path) {
    std::vector<Candidate> out;
    if (is_directory(path))
      for (const std::string& f : cublas::cublas_in_dir(path, own_major)) out.push_back({f, "CTXWIN_CUBLAS_PATH"});
    if (out.empty()) out.push_back({path, "CTXWIN_CUBLAS_PATH"});
    return out;
  }
#ifdef _WIN32
  std::vector<std::string> names = {"cublas64_13.dll", "cublas64_12.dll"};
  const std::string own = "cublas64_" + std::to_string(own_major) + ".dll";
#else
  std::vector<std::string> names = {"libcublas.so.13", "libcublas.so.12", "libcublas.so"};
  const std::string own = "libcublas.so." + std::to_string(own_major);
#endif
  // The soname matching this addon's CUDA runtime first: one CUDA major version per process.
  names.erase(std::remove(names.begin(), names.end(), own), names.end());
  names.insert(names.begin(), own);
  std::vector<Candidate> out;
  for (const std::string& n : names) out.push_back({n, "the dynamic loader's search"});
  // Then PyTorch's copy (nvidia-cublas pip package), same major first.
  for (const std::string& f : cublas::python_site_cublas(own_major)) out.push_back({f, "python site-packages"});
  return out;
}

// A full path to libcublas.so.N: libcublasLt.so.N from the same folder first, so that
// libcublas's dependency on it resolves there whatever the library's RUNPATH says (pip packages).
void preload_lt(const std::string& path) {
#ifndef _WIN32
  const size_t slash = path.find_last_of('/');
  const int major = cublas::cublas_major_of(path);
  if (slash == std::string::npos || major < 0) return;
  const std::string lt = path.substr(0, slash + 1) + "libcublasLt.so." + std::to_string(major);
  // Absent or failing: libcublas's own dlopen error then says why. Loaded, it satisfies
  // libcublas's DT_NEEDED by soname (RTLD_LOCAL is enough for that).
  (void)dlopen(lt.c_str(), RTLD_NOW | RTLD_LOCAL);
  (void)dlerror();
#else
  (void)path;
#endif
}

// CUBLAS_VERSION is major*10000 + minor*100 + patch since cuBLAS 12 (major*1000 + ... before).
std::string version_string(int v) {
  int major = v >= 100000 ? v / 10000 : v / 1000;
  int minor = v >= 100000 ? (v / 100) % 100 : (v % 1000) / 100;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(v % 100);
}

// One candidate: loads it, resolves the entry points, creates the handle on `stream`. Returns null
// and sets *why on failure.
const cublas::Api* try_library(const Candidate& cand, cudaStream_t stream, std::string* why) {
  const std::string& name = cand.name;
  if (name.find('/') != std::string::npos) preload_lt(name);
  void* lib = open_library(name);
  if (!lib) {
    *why = last_load_error();
    return nullptr;
  }
  // Never unloaded: cuBLAS may keep threads and callbacks alive until the process ends.
  auto create = (cublas::CreateFn)find_symbol(lib, "cublasCreate_v2");
  auto destroy = (cublas::DestroyFn)find_symbol(lib, "cublasDestroy_v2");
  auto set_stream = (cublas::SetStreamFn)find_symbol(lib, "cublasSetStream_v2");
  auto get_version = (cublas::GetVersionFn)find_symbol(lib, "cublasGetVersion_v2");
  auto gemm_ex = (cublas::GemmExFn)find_symbol(lib, "cublasGemmEx");
  auto set_math = (cublas::SetMathModeFn)find_symbol(lib, "cublasSetMathMode");  // optional
  const char* missing = !create ? "cublasCreate_v2" : !destroy ? "cublasDestroy_v2" : !set_stream ? "cublasSetStream_v2"
                        : !get_version                       ? "cublasGetVersion_v2"
                        : !gemm_ex                           ? "cublasGemmEx"
                                                             : nullptr;
  if (missing) {
    *why = std::string("no symbol ") + missing;
    return nullptr;
  }
  cublas::Handle handle = nullptr;
  cublas::Status st = create(&handle);
  (void)cudaGetLastError();  // nothing cuBLAS did may surface as a later launch's error
  if (st != cublas::kStatusSuccess || !handle) {
    *why = "cublasCreate_v2 failed: " + status_text(st);
    return nullptr;
  }
  st = set_stream(handle, stream);
  if (st != cublas::kStatusSuccess) {
    (void)destroy(handle);
    *why = "cublasSetStream_v2 failed: " + status_text(st);
    return nullptr;
  }
  // Half-type outputs: split-K partial sums stay in f32 (the op accumulates in f32). Older
  // libraries reject the flag: plain default math then.
  if (set_math && set_math(handle, cublas::kDefaultMath | cublas::kDisallowReducedPrecisionReduction) !=
                      cublas::kStatusSuccess)
    (void)set_math(handle, cublas::kDefaultMath);
  int version = 0;
  if (get_version(handle, &version) != cublas::kStatusSuccess) version = 0;
  // "cublas 13.1.0 (/opt/torch/.venv/.../nvidia/cu13/lib/libcublas.so.13, python site-packages)"
  g_cublas_name = new std::string((version ? "cublas " + version_string(version) : std::string("cublas")) + " (" +
                                  loaded_from(lib, (void*)create, name) + ", " + cand.origin + ")");
  auto* api = new cublas::Api();  // leaked with the handle, on purpose (cublas_loader.h)
  api->gemm_ex = gemm_ex;
  api->handle = handle;
  return api;
}

const cublas::Api* load() {
  if (disabled_by_env()) {
    publish("fallback (CTXWIN_CUBLAS=0)");
    return nullptr;
  }
  cudaStream_t stream = device_stream();  // throws the device's reason if CUDA is unusable
  std::string tried, reasons;
  const std::vector<Candidate> cands = candidates();
  for (const Candidate& cand : cands) {
    std::string why;
    if (const cublas::Api* api = try_library(cand, stream, &why)) {
      publish(*g_cublas_name);
      return api;
    }
    tried += (tried.empty() ? "" : ", ") + cand.name;
    reasons += (reasons.empty() ? "" : "; ") + why;
  }
  const char* env = std::getenv("CTXWIN_CUBLAS_PATH");
  publish("fallback (" + tried + " not usable: " + reasons +
          (env && *env ? std::string() : "; python site-packages searched too; CTXWIN_CUBLAS_PATH=<libcublas.so.N> names one") + ")");
  return nullptr;
}

}  // namespace

const cublas::Api* cublas::api() {
  static const Api* loaded = load();  // once per process (retried only if load() threw)
  return loaded;
}

void cublas::note_gemm_failure(Status status, long long M, long long N, long long K) {
  static std::atomic<bool> noted{false};
  if (noted.exchange(true)) return;
  publish((g_cublas_name ? *g_cublas_name : std::string("cublas")) + "; cublasGemmEx failed with " +
          status_text(status) + " at M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K) +
          ": that call and any like it ran the fallback kernels");
}

const char* gemm_backend_name() { return g_backend_name.load(std::memory_order_acquire); }

}  // namespace ctxwin::cuda
