package io.arrakis.model.kernel.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.model.kernel.backend.BackendUnavailableException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The CUDA source and the backend's start on machines with and without CUDA: the kernels the
 * backend looks up are defined, take no header, and compile where NVRTC 13 can be loaded; where no
 * CUDA 13 runtime is found, opening the backend fails with one line naming the missing library.
 */
class CudaKernelsTest {
  @Test
  void everyKernelTheBackendLaunchesIsDefinedAndTheSourceNeedsNoHeaders() {
    String source = CudaKernels.source();
    assertThat(source).doesNotContain("#include");
    for (String name : CudaKernels.NAMES) {
      boolean plain = source.contains("extern \"C\" __global__ void " + name + "(");
      boolean grouped =
          name.matches("(gateup|down)_nb\\d")
              && source.contains("GROUPED(" + name.replaceAll("\\D", "") + ",");
      assertThat(plain || grouped).as("kernel %s", name).isTrue();
    }
    for (int blocks : CudaPlan.TILE_BLOCKS) {
      assertThat(source).contains("GROUPED(" + blocks + ",");
    }
  }

  @Test
  void theTileLayoutMatchesTheSourcesStruct() {
    assertThat(CudaKernels.source()).contains("struct Tile {             // 24 bytes");
    assertThat(CudaPlan.TILE_BYTES).isEqualTo(24);
  }

  @Test
  void theSourceCompilesForHopperWhereNvrtcExists() {
    Assumptions.assumeTrue(nvrtcLoads(), "no NVRTC 13 on this machine");
    assertThat(CudaKernels.compile("sm_90")).isNotEmpty();
    assertThat(CudaKernels.compile("sm_80")).isNotEmpty();
  }

  @Test
  void withoutCudaTheBackendRefusesInOneLine() {
    Assumptions.assumeFalse(
        Files.exists(Path.of("/dev/nvidia0")), "this machine has an NVIDIA GPU");
    assertThatThrownBy(() -> CudaBackend.open(CudaOptions.defaults(0)))
        .isInstanceOf(BackendUnavailableException.class)
        .hasMessageStartingWith("--device cuda: ")
        .hasMessageNotContaining("\n")
        .satisfies(
            e ->
                assertThat(e.getMessage())
                    .containsAnyOf(
                        "libcudart.so.13",
                        "NVIDIA driver",
                        "libcublas",
                        "libnvrtc",
                        "no CUDA device"));
  }

  private static boolean nvrtcLoads() {
    try {
      Cuda.loadLibraries();
      return true;
    } catch (BackendUnavailableException e) {
      return false;
    }
  }
}
