// Search of Python site-packages for the NVIDIA pip packages' cuBLAS (cublas_search.h).
#include "cuda/ops/cublas_search.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#ifndef _WIN32
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#endif

namespace ctxwin::cuda::cublas {

namespace {

#ifndef _WIN32
std::vector<std::string> glob_files(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g{};
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  globfree(&g);
  return out;
}

std::string real_path(const std::string& p) {
  char buf[PATH_MAX];
  return realpath(p.c_str(), buf) ? std::string(buf) : p;
}
#endif

// Exactly libcublas.so.<digits> (not libcublasLt, not libcublas.so.13.1.0.3: one file per major).
bool plain_soname(const std::string& path) { return cublas_major_of(path) >= 0; }

void order(std::vector<std::string>& paths, int preferred_major) {
  std::stable_sort(paths.begin(), paths.end(), [&](const std::string& a, const std::string& b) {
    const int ma = cublas_major_of(a), mb = cublas_major_of(b);
    if ((ma == preferred_major) != (mb == preferred_major)) return ma == preferred_major;
    return ma > mb;
  });
}

}  // namespace

int cublas_major_of(const std::string& path) {
  const std::string base = path.substr(path.find_last_of("/\\") + 1);
  std::string digits;
  if (base.rfind("libcublas.so.", 0) == 0) digits = base.substr(13);
  else if (base.rfind("cublas64_", 0) == 0 && base.size() > 13 && base.compare(base.size() - 4, 4, ".dll") == 0)
    digits = base.substr(9, base.size() - 13);
  if (digits.empty() || digits.size() > 4 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  return std::atoi(digits.c_str());
}

std::vector<std::string> python_site_patterns() {
  std::vector<std::string> pats;
#ifndef _WIN32
  const std::string lib = "/nvidia/*/lib/libcublas.so.[0-9]*";
  if (const char* pp = std::getenv("PYTHONPATH"); pp && *pp) {
    std::string s(pp);
    size_t start = 0;
    while (start <= s.size()) {
      size_t end = s.find(':', start);
      if (end == std::string::npos) end = s.size();
      if (end > start) pats.push_back(s.substr(start, end - start) + lib);
      start = end + 1;
    }
  }
  std::vector<std::string> roots;
  for (const char* var : {"VIRTUAL_ENV", "CONDA_PREFIX"})
    if (const char* v = std::getenv(var); v && *v) roots.emplace_back(v);
  if (const char* home = std::getenv("HOME"); home && *home) roots.push_back(std::string(home) + "/.local");
  for (const char* r : {"/usr/local", "/usr", "/opt/conda", "/opt/*/.venv", "/opt/*/venv"}) roots.emplace_back(r);
  for (const std::string& root : roots)
    for (const char* libdir : {"/lib/", "/lib64/"})
      for (const char* kind : {"site-packages", "dist-packages"})
        pats.push_back(root + libdir + "python3*/" + kind + lib);
#endif
  return pats;
}

std::vector<std::string> python_site_cublas(int preferred_major) {
  std::vector<std::string> out, seen;
#ifndef _WIN32
  for (const std::string& pat : python_site_patterns())
    for (const std::string& f : glob_files(pat)) {
      if (!plain_soname(f)) continue;
      const std::string real = real_path(f);
      if (std::find(seen.begin(), seen.end(), real) != seen.end()) continue;
      seen.push_back(real);
      out.push_back(f);
    }
  order(out, preferred_major);
#else
  (void)preferred_major;
#endif
  return out;
}

std::vector<std::string> cublas_in_dir(const std::string& dir, int preferred_major) {
  std::vector<std::string> out;
#ifndef _WIN32
  for (const std::string& f : glob_files(dir + "/libcublas.so.[0-9]*"))
    if (plain_soname(f)) out.push_back(f);
  order(out, preferred_major);
#else
  (void)dir;
  (void)preferred_major;
#endif
  return out;
}

}  // namespace ctxwin::cuda::cublas
