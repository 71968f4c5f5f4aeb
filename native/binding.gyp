{
  "targets": [
    {
      "target_name": "iommufd",
      "sources": ["<!@(node -p \"require('fs').readdirSync('.').filter(f => f.endsWith('.cc')).join(' ')\")"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "<!(node -p \"process.env.IOMMUFD_WERROR === '1' ? '-Werror' : '-Wno-error'\")"]
    }
  ]
}
