{
  # The CPU addon (what node-gyp-build loads). Kernels that need wider SIMD live in
  # native/src/cpu/avx2 and native/src/cpu/avx512, each compiled into its own static library with
  # its own -m flags; native/src/cpu/cpu_features.cpp picks one at run time, so the same binary
  # runs on any x86-64 CPU. Sources are listed by directory (scripts/gyp-sources.cjs).
  # No -march/-mtune anywhere: the base objects target plain x86-64, so the prebuilds made by
  # scripts/prebuild.sh run on any CPU of their architecture.
  "variables": {
    "ctxwin_common_flags": ["-O3", "-std=c++17", "-fexceptions", "-Wall", "-Wno-unused-function", "-fno-math-errno"]
  },
  "target_defaults": {
    "include_dirs": [
      "native/include",
      "native/src",
      "native",
      "<!(node -p \"require('node-addon-api').include_dir\")"
    ],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
    "cflags!": ["-fno-exceptions", "-O2"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-O2", "-std=gnu++17"],
    "cflags_cc": ["<@(ctxwin_common_flags)"],
    "xcode_settings": {
      "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
      "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
      "OTHER_CPLUSPLUSFLAGS": ["-O3", "-fexceptions"]
    }
  },
  "targets": [
    {
      "target_name": "ctxwin_cpu_avx2",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64' or target_arch=='ia32'", {
          "sources": ["<!@(node scripts/gyp-sources.cjs native/src/cpu/avx2)"],
          "cflags_cc": ["-mavx2", "-mfma", "-mf16c"],
          "defines": ["CTXWIN_HAVE_AVX2_BUILD=1"],
          "xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["-mavx2", "-mfma", "-mf16c"]}
        }]
      ]
    },
    {
      "target_name": "ctxwin_cpu_avx512",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64'", {
          "sources": ["<!@(node scripts/gyp-sources.cjs native/src/cpu/avx512)"],
          "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mfma", "-mf16c"],
          "xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mfma", "-mf16c"]}
        }]
      ]
    },
    {
      "target_name": "ctxwin",
      "dependencies": ["ctxwin_cpu_avx2", "ctxwin_cpu_avx512"],
      "sources": [
        "<!@(node scripts/gyp-sources.cjs native/binding native/src/runtime native/src/common native/src/cpu native/src/cpu/ops native/src/ops native/src/bench)"
      ],
      "conditions": [
        ["target_arch=='x64'", {"defines": ["CTXWIN_X86_64=1"]}]
      ],
      "libraries": ["-ldl", "-lpthread"]
    }
  ]
}
