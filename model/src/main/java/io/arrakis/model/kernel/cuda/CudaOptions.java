package io.arrakis.model.kernel.cuda;

/**
 * Settings of the CUDA backend.
 *
 * @param device the GPU's index (cuda:N)
 * @param groupedMaxRows an expert with at most this many rows in a batch runs in the grouped
 *     kernels (one launch for all such experts, each weight read once per 64 rows); one with more
 *     runs as cuBLAS GEMMs on its gathered rows. 0 = always cuBLAS
 * @param groupedMaxExpertBytes only experts of at most this many bytes (bf16) run in the grouped
 *     kernels: a large expert's weights stream faster through cuBLAS (3.1 against 2.0–2.5 TB/s on
 *     an H200), while small experts would cost a cuBLAS launch each
 * @param scratchReserveBytes device memory kept free of weights, for the compute threads' batch
 *     buffers and cuBLAS
 * @param lanes streams (each with a cuBLAS handle) a batch's cuBLAS experts are spread over, 1 to
 *     {@value #MAX_LANES}
 * @param splitLarge large experts with few rows go alternately to the grouped kernels and to
 *     cuBLAS, which then stream weights at the same time
 */
public record CudaOptions(
    int device,
    int groupedMaxRows,
    long groupedMaxExpertBytes,
    long scratchReserveBytes,
    int lanes,
    boolean splitLarge) {
  public static final int DEFAULT_GROUPED_MAX_ROWS = 128;
  public static final long DEFAULT_GROUPED_MAX_EXPERT_BYTES = 32L << 20;
  public static final long DEFAULT_SCRATCH_RESERVE = 2L << 30;
  public static final int MAX_LANES = 8;
  public static final int DEFAULT_LANES = 8;

  public CudaOptions {
    if (device < 0 || groupedMaxRows < 0 || groupedMaxExpertBytes < 0 || scratchReserveBytes < 0) {
      throw new IllegalArgumentException(
          "device, grouped-max-rows, grouped-max-expert-bytes and scratch-reserve "
              + "must not be negative");
    }
    if (lanes < 1 || lanes > MAX_LANES) {
      throw new IllegalArgumentException("lanes must be 1 to " + MAX_LANES + ", got " + lanes);
    }
  }

  /** The node's settings with the defaults for the rest. */
  public CudaOptions(
      int device, int groupedMaxRows, long groupedMaxExpertBytes, long scratchReserveBytes) {
    this(device, groupedMaxRows, groupedMaxExpertBytes, scratchReserveBytes, DEFAULT_LANES, false);
  }

  public static CudaOptions defaults(int device) {
    return new CudaOptions(
        device,
        DEFAULT_GROUPED_MAX_ROWS,
        DEFAULT_GROUPED_MAX_EXPERT_BYTES,
        DEFAULT_SCRATCH_RESERVE);
  }

  public CudaOptions withLanes(int n) {
    return new CudaOptions(
        device, groupedMaxRows, groupedMaxExpertBytes, scratchReserveBytes, n, splitLarge);
  }

  public CudaOptions withSplitLarge(boolean split) {
    return new CudaOptions(
        device, groupedMaxRows, groupedMaxExpertBytes, scratchReserveBytes, lanes, split);
  }

  /** Every expert in the grouped kernels (whatever its rows and size). */
  public CudaOptions allGrouped() {
    return new CudaOptions(
        device, Integer.MAX_VALUE, Long.MAX_VALUE, scratchReserveBytes, lanes, false);
  }

  /** Every expert as cuBLAS GEMMs. */
  public CudaOptions allCublas() {
    return new CudaOptions(device, 0, 0, scratchReserveBytes, lanes, false);
  }

  /**
   * Whether work item {@code item} (an expert of {@code bytes} with {@code rows} rows in a batch)
   * runs in the grouped kernels.
   */
  public boolean grouped(int item, int rows, long bytes) {
    return rows <= groupedMaxRows
        && (bytes <= groupedMaxExpertBytes || (splitLarge && item % 2 == 0));
  }
}
