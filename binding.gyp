{
  "targets": [
    {
      "target_name": "iommufd",
      "sources": [
        "native/addon.cc",
        "native/dma_buffer.cc",
        "native/fail_nth.cc",
        "native/hwpt.cc",
        "native/ioas.cc",
        "native/selftest.cc",
        "native/vfio_compat.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
