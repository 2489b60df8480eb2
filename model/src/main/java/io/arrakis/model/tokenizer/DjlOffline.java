package io.arrakis.model.tokenizer;

import ai.djl.util.Utils;
import java.nio.file.Path;

/**
 * Puts DJL into offline mode before its first use, once, in this one place.
 *
 * <p>DJL's HuggingFace binding phones home on every new tokenizer ({@code Ec2Utils.callHome}: EC2
 * metadata, then a telemetry URL) unless offline mode or {@code OPT_OUT_TRACKING} is set, and on a
 * machine with CUDA it looks for a GPU build of its native library and downloads it unless offline
 * mode forces the CPU build that its jar bundles. DJL reads both settings only from the environment
 * ({@code DJL_OFFLINE}, {@code OPT_OUT_TRACKING}) or from system properties ({@code
 * ai.djl.offline}, {@code OPT_OUT_TRACKING}); it has no API for them. So, rather than asking every
 * user for JVM flags, the two properties are set here before any DJL tokenizer is made. Offline
 * mode alone turns both off; the tracking opt-out is set as well in case a later DJL release
 * separates them.
 *
 * <p>The native library is copied out of the jar once into DJL's cache: {@code
 * ~/.djl.ai/tokenizers/<version>-cpu-<os>-<arch>/} (or {@code $DJL_CACHE_DIR} / {@code
 * $ENGINE_CACHE_DIR}; where the home directory is not writable, as for the container image's user,
 * under {@code java.io.tmpdir}).
 */
final class DjlOffline {
  static final String OFFLINE_PROPERTY = "ai.djl.offline";
  static final String TRACKING_PROPERTY = "OPT_OUT_TRACKING";

  private DjlOffline() {}

  /**
   * Sets DJL's offline mode (idempotent: called before each tokenizer is made, which is rare);
   * fails if the environment turns it off, since DJL reads DJL_OFFLINE before the property.
   */
  static void ensure() {
    System.setProperty(OFFLINE_PROPERTY, "true");
    System.setProperty(TRACKING_PROPERTY, "true");
    if (!Utils.isOfflineMode()) {
      throw new TokenizerException(
          "DJL_OFFLINE="
              + System.getenv("DJL_OFFLINE")
              + " in the environment turns DJL's offline mode off;"
              + " Arrakis runs the tokenizer offline (no downloads, no usage tracking): unset DJL_OFFLINE");
    }
  }

  /** Where DJL keeps the tokenizers' native library. */
  static Path nativeCacheDir() {
    return Utils.getEngineCacheDir("tokenizers");
  }
}
