package io.arrakis.expert.compute;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;

/** The device line of Describe: the CPU backend that runs here, and the CUDA backend's report as ND4J gives it. */
class DeviceTest {
  @Test
  void theCpuBackendNamesItsBlasAndThreads() {
    assertThat(Device.describe(3)).matches("cpu \\(nd4j CPU, blas \\w+, 3 compute threads\\)");
  }

  @Test
  void theCudaBackendNamesTheThreadsDevice() {
    Properties env = new Properties();
    env.put("backend", "CUDA");
    env.put("cuda.devicesInformation", List.of(
        Map.of("cuda.deviceName", "NVIDIA A10", "cuda.totalMemory", 24L << 30, "cuda.deviceMajor", 8, "cuda.deviceMinor", 6),
        Map.of("cuda.deviceName", "NVIDIA H200", "cuda.totalMemory", 141L << 30, "cuda.deviceMajor", 9, "cuda.deviceMinor", 0)));

    assertThat(Device.describe(env, 1, 2)).isEqualTo("cuda:1 (NVIDIA H200, 141.0 GiB, compute 9.0; 2 devices)");
    assertThat(Device.describe(env, 5, 2)).isEqualTo("cuda:5 (2 devices reported)");
  }
}
