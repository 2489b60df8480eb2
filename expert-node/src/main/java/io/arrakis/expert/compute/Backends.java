package io.arrakis.expert.compute;

import io.arrakis.expert.ExpertNodeSettings;
import io.arrakis.model.kernel.backend.CpuBackend;
import io.arrakis.model.kernel.backend.ExpertBackend;
import io.arrakis.model.kernel.cuda.CudaBackend;
import io.arrakis.model.kernel.cuda.CudaOptions;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Starts the backend a node's settings name: {@code cpu}, {@code cuda} or {@code cuda:N}. */
public final class Backends {
  private static final Pattern CUDA = Pattern.compile("cuda(?::(\\d{1,4}))?");

  private Backends() {}

  /**
   * The backend for {@code settings.device()}.
   *
   * @throws IllegalArgumentException for a device that is neither cpu nor cuda[:N]
   * @throws io.arrakis.model.kernel.backend.BackendUnavailableException when it cannot start here
   */
  public static ExpertBackend open(ExpertNodeSettings settings) {
    String device = settings.device().trim();
    if (device.equals("cpu")) {
      return CpuBackend.start(settings.blasThreads());
    }
    Matcher m = CUDA.matcher(device);
    if (m.matches()) {
      int index = m.group(1) == null ? 0 : Integer.parseInt(m.group(1));
      return CudaBackend.open(
          new CudaOptions(
              index,
              settings.cudaGroupedMaxRows(),
              settings.cudaGroupedMaxExpertBytes(),
              settings.cudaScratchReserveBytes()));
    }
    throw new IllegalArgumentException(
        "--device must be cpu, cuda or cuda:N, got '" + device + "'");
  }
}
