// The site-packages search for PyTorch's cuBLAS (native/src/cuda/ops/cublas_search.cpp), on a
// fake tree of pip packages in a temporary folder: no GPU, no CUDA, no Python needed.
// Built and run by scripts/native-test.sh (g++ only); exit 1 on failure.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "cuda/ops/cublas_search.h"

using namespace ctxwin::cuda::cublas;

namespace {

int g_fail = 0;
void expect(bool ok, const std::string& what) {
  if (!ok) {
    printf("  FAIL: %s\n", what.c_str());
    ++g_fail;
  }
}

void mkdirs(const std::string& path) {
  std::string cur;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!cur.empty()) mkdir(cur.c_str(), 0755);
    }
    if (i < path.size()) cur += path[i];
  }
}

void touch(const std::string& path) {
  mkdirs(path.substr(0, path.find_last_of('/')));
  std::ofstream(path) << "not a library\n";
}

// Only the results inside our temporary tree (the host may have real pip packages too).
std::vector<std::string> under(const std::vector<std::string>& v, const std::string& root) {
  std::vector<std::string> out;
  for (const auto& s : v)
    if (s.rfind(root, 0) == 0) out.push_back(s);
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return "[" + s + "]";
}

}  // namespace

int main() {
  char tmpl[] = "/tmp/ctxwin-cublas-search-XXXXXX";
  if (!mkdtemp(tmpl)) {
    perror("mkdtemp");
    return 1;
  }
  const std::string root = tmpl;
  const std::string pp = root + "/pp", venv = root + "/venv", site = venv + "/lib/python3.12/site-packages";
  const std::string so12 = pp + "/nvidia/cublas/lib/libcublas.so.12";
  const std::string so13 = site + "/nvidia/cu13/lib/libcublas.so.13";
  touch(so12);
  touch(pp + "/nvidia/cublas/lib/libcublas.so.12.9.1.4");  // versioned name: not a candidate
  touch(pp + "/nvidia/cublas/lib/libcublasLt.so.12");      // not cuBLAS itself
  touch(so13);
  // the same site-packages reached twice (PYTHONPATH through a link, and VIRTUAL_ENV): listed once
  if (symlink(site.c_str(), (root + "/pp2").c_str()) != 0) perror("symlink");
  setenv("PYTHONPATH", (pp + ":" + root + "/pp2:").c_str(), 1);
  setenv("VIRTUAL_ENV", venv.c_str(), 1);
  setenv("HOME", (root + "/home").c_str(), 1);
  unsetenv("CONDA_PREFIX");

  expect(cublas_major_of("libcublas.so.13") == 13, "major of libcublas.so.13");
  expect(cublas_major_of("/a/b/libcublas.so.12") == 12, "major of /a/b/libcublas.so.12");
  expect(cublas_major_of("libcublas.so") == -1, "libcublas.so has no major");
  expect(cublas_major_of("libcublasLt.so.13") == -1, "libcublasLt is not cuBLAS");
  expect(cublas_major_of("libcublas.so.13.1.0.3") == -1, "a versioned file name is not a soname");
  expect(cublas_major_of("cublas64_12.dll") == 12, "major of cublas64_12.dll");

  const std::vector<std::string> pats = python_site_patterns();
  expect(pats.size() >= 3 && pats[0] == pp + "/nvidia/*/lib/libcublas.so.[0-9]*", "PYTHONPATH entries are searched first");
  bool venv_pat = false;
  for (const auto& p : pats) venv_pat |= p == venv + "/lib/python3*/site-packages/nvidia/*/lib/libcublas.so.[0-9]*";
  expect(venv_pat, "VIRTUAL_ENV's site-packages is searched");

  const auto by13 = under(python_site_cublas(13), root);
  expect(by13.size() == 2 && by13[0] == root + "/pp2/nvidia/cu13/lib/libcublas.so.13" && by13[1] == so12,
         "major 13 first, each file once: " + join(by13));
  const auto by12 = under(python_site_cublas(12), root);
  expect(by12.size() == 2 && by12[0] == so12, "major 12 first when asked: " + join(by12));
  const auto in_dir = cublas_in_dir(pp + "/nvidia/cublas/lib", 13);
  expect(in_dir.size() == 1 && in_dir[0] == so12, "cublas_in_dir: " + join(in_dir));
  expect(cublas_in_dir(root + "/nowhere", 13).empty(), "cublas_in_dir of a missing folder is empty");

  std::string cmd = "rm -rf '" + root + "'";
  if (std::system(cmd.c_str()) != 0) printf("  (could not remove %s)\n", root.c_str());
  printf("cublas_search_test: %s\n", g_fail ? "FAILED" : "ok (site-packages search, ordering, de-duplication)");
  return g_fail ? 1 : 0;
}
