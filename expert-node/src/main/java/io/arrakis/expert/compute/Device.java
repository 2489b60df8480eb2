package io.arrakis.expert.compute;

import static org.nd4j.linalg.api.environment.Nd4jEnvironment.BACKEND_KEY;
import static org.nd4j.linalg.api.environment.Nd4jEnvironment.BLAS_VENDOR_KEY;
import static org.nd4j.linalg.api.environment.Nd4jEnvironment.CUDA_DEVICE_INFORMATION_KEY;
import static org.nd4j.linalg.api.environment.Nd4jEnvironment.CUDA_DEVICE_MAJOR_VERSION_KEY;
import static org.nd4j.linalg.api.environment.Nd4jEnvironment.CUDA_DEVICE_MINOR_VERSION_KEY;
import static org.nd4j.linalg.api.environment.Nd4jEnvironment.CUDA_DEVICE_NAME_KEY;
import static org.nd4j.linalg.api.environment.Nd4jEnvironment.CUDA_TOTAL_MEMORY_KEY;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import org.nd4j.linalg.factory.Nd4j;

/**
 * What the node computes on, as ND4J's backend reports it: {@code cpu (nd4j CPU, blas OPENBLAS, 2
 * compute threads)} with the CPU build, {@code cuda:0 (NVIDIA H100, 79.6 GiB, compute 9.0; 1 device)}
 * with the CUDA one ({@code -Pcuda}). Routers and operators read it from {@code Describe}.
 */
public final class Device {
  private Device() {}

  /**
   * Starts ND4J's backend now, so that a machine it cannot run on gets one clear line rather than a
   * class-initializer trace from whichever call touches ND4J first.
   */
  public static void requireBackend() {
    try {
      Nd4j.getBackend();
    } catch (ExceptionInInitializerError | NoClassDefFoundError | RuntimeException e) {
      throw new IllegalStateException("no ND4J backend could start on this machine (the warnings above say what each "
          + "lacked): the CPU build needs nd4j-native for linux-x86_64 with AVX2, the CUDA build (-Pcuda) an NVIDIA "
          + "driver and the CUDA 11.6 runtime libraries", e);
    }
  }

  /** The device of the running backend; the CUDA backend computes on the calling thread's device. */
  public static String describe(int computeThreads) {
    Properties env = Nd4j.getExecutioner().getEnvironmentInformation();
    int device = isCuda(env) ? Nd4j.getAffinityManager().getDeviceForCurrentThread() : 0;
    return describe(env, device, computeThreads);
  }

  static String describe(Properties env, int device, int computeThreads) {
    if (!isCuda(env)) {
      return "cpu (nd4j " + env.getProperty(BACKEND_KEY, "?") + ", blas " + env.getProperty(BLAS_VENDOR_KEY, "?") + ", "
          + computeThreads + " compute threads)";
    }
    List<?> devices = env.get(CUDA_DEVICE_INFORMATION_KEY) instanceof List<?> l ? l : List.of();
    String count = devices.size() + (devices.size() == 1 ? " device" : " devices");
    if (device < 0 || device >= devices.size() || !(devices.get(device) instanceof Map<?, ?> d)) {
      return "cuda:" + device + " (" + count + " reported)";
    }
    Object memory = d.get(CUDA_TOTAL_MEMORY_KEY);
    String gib = memory instanceof Number n ? String.format(Locale.ROOT, ", %.1f GiB", n.doubleValue() / (1L << 30)) : "";
    return "cuda:" + device + " (" + d.get(CUDA_DEVICE_NAME_KEY) + gib + ", compute " + d.get(CUDA_DEVICE_MAJOR_VERSION_KEY)
        + "." + d.get(CUDA_DEVICE_MINOR_VERSION_KEY) + "; " + count + ")";
  }

  private static boolean isCuda(Properties env) {
    return "CUDA".equalsIgnoreCase(env.getProperty(BACKEND_KEY, ""));
  }
}
