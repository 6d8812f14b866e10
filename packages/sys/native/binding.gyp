{
  "targets": [
    {
      "target_name": "vmv_sys",
      "sources": ["addon.cc", "mapping.cc", "unix.cc", "watcher.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [["OS!='linux'", {"sources!": ["addon.cc", "mapping.cc", "unix.cc", "watcher.cc"]}]]
    }
  ]
}
