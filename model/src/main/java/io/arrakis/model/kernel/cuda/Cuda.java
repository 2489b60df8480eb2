package io.arrakis.model.kernel.cuda;

import static org.bytedeco.cuda.global.cudart.cudaGetErrorName;

import io.arrakis.model.kernel.backend.BackendUnavailableException;
import java.util.Locale;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.cuda.global.nvrtc;
import org.bytedeco.javacpp.Loader;

/**
 * Loading JavaCPP's CUDA presets, which link against the machine's CUDA 13 libraries (the presets'
 * own jars carry only the JNI glue), and checking return codes.
 */
final class Cuda {
  private Cuda() {}

  /**
   * Loads the runtime, cuBLAS and NVRTC bindings; a machine without them gets one line saying which
   * library is missing.
   */
  static void loadLibraries() {
    load(cudart.class, "the CUDA 13 runtime and driver (libcudart.so.13, libcuda.so.1)");
    load(cublas.class, "cuBLAS 13 (libcublas.so.13, libcublasLt.so.13)");
    load(nvrtc.class, "NVRTC 13 (libnvrtc.so.13)");
  }

  private static void load(Class<?> preset, String what) {
    try {
      Loader.load(preset);
    } catch (Throwable e) { // UnsatisfiedLinkError, or the class initializer's error around it
      String lib = missing(e, what);
      if (lib.startsWith("libcuda.so")) {
        throw new BackendUnavailableException(
            "--device cuda: no NVIDIA driver on this machine (" + lib + " could not be loaded)", e);
      }
      throw new BackendUnavailableException(
          "--device cuda: "
              + lib
              + " could not be loaded; put the CUDA 13 "
              + "libraries on LD_LIBRARY_PATH (e.g. /usr/local/cuda-13.0/targets/x86_64-linux/lib)",
          e);
    }
  }

  /** Names the library a link error is about, where its message says. */
  static String missing(Throwable e, String fallback) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      String m = String.valueOf(t.getMessage());
      for (String lib :
          new String[] {
            "libcuda.so", "libcudart.so", "libcublasLt.so", "libcublas.so", "libnvrtc"
          }) {
        int at = m.indexOf(lib);
        if (at >= 0) {
          int end = at;
          while (end < m.length()
              && !Character.isWhitespace(m.charAt(end))
              && m.charAt(end) != ':'
              && m.charAt(end) != ',') {
            end++;
          }
          return m.substring(at, end);
        }
      }
    }
    return fallback;
  }

  static void check(int rc, String what) {
    if (rc != 0) {
      throw new CudaException(what + " failed: " + errorName(rc) + " (" + rc + ")", rc);
    }
  }

  static void checkBlas(int rc, String what) {
    if (rc != 0) {
      throw new CudaException(what + " failed: cuBLAS status " + rc, rc);
    }
  }

  static void checkNvrtc(int rc, String what) {
    if (rc != 0) {
      throw new CudaException(what + " failed: NVRTC status " + rc, rc);
    }
  }

  static String errorName(int rc) {
    try {
      return cudaGetErrorName(rc).getString();
    } catch (RuntimeException | LinkageError e) {
      return "error";
    }
  }

  static String gib(long bytes) {
    return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
  }

  /** 13000 → "13.0". */
  static String version(int v) {
    return v / 1000 + "." + (v % 1000) / 10;
  }
}
