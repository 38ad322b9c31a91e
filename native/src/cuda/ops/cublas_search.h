// Where cuBLAS may live when the dynamic loader's own search (LD_LIBRARY_PATH, ldconfig, the
// CUDA toolkit) finds no libcublas: inside the NVIDIA pip packages that PyTorch installs, under a
// Python's site-packages (nvidia/cublas/lib/ for CUDA 12 wheels, nvidia/cu13/lib/ for CUDA 13
// ones). Plain C++ without CUDA, so that native/test/cublas_search_test.cpp checks it on any host.
// Used by cublas_loader.cpp after the usual sonames; Linux only (empty elsewhere).
#pragma once
#include <string>
#include <vector>

namespace ctxwin::cuda::cublas {

// The glob patterns searched, in order: <entry>/nvidia/*/lib/libcublas.so.N for each entry of
// PYTHONPATH, then <root>/lib{,64}/python3*/{site,dist}-packages/nvidia/*/lib/libcublas.so.N for
// the roots $VIRTUAL_ENV, $CONDA_PREFIX, $HOME/.local, /usr/local, /usr, /opt/conda and
// /opt/*/.venv, /opt/*/venv (e.g. /opt/torch/.venv).
std::vector<std::string> python_site_patterns();

// The files found through python_site_patterns() named exactly libcublas.so.<major> (each file
// once, by its real path): those of `preferred_major` first, then the others, highest major first;
// discovery order within one major.
std::vector<std::string> python_site_cublas(int preferred_major);

// libcublas.so.<major> files directly in `dir`, ordered as above (for CTXWIN_CUBLAS_PATH=<dir>).
std::vector<std::string> cublas_in_dir(const std::string& dir, int preferred_major);

// The major version in a name ending in libcublas.so.<major> (or cublas64_<major>.dll), else -1.
int cublas_major_of(const std::string& path);

}  // namespace ctxwin::cuda::cublas
