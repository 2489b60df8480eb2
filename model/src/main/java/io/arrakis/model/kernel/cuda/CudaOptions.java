package io.arrakis.model.kernel.cuda;

/**
 * Settings of the CUDA backend.
 *
 * @param device the GPU's index (cuda:N)
 * @param groupedMaxRows an expert with at most this many rows in a batch runs in the grouped kernels
 *     (one launch for all such experts, each weight read once); one with more runs as cuBLAS GEMMs on
 *     its gathered rows. 0 = always cuBLAS
 * @param scratchReserveBytes device memory kept free of weights, for the compute threads' batch
 *     buffers and cuBLAS
 */
public record CudaOptions(int device, int groupedMaxRows, long scratchReserveBytes) {
  public static final int DEFAULT_GROUPED_MAX_ROWS = 64;
  public static final long DEFAULT_SCRATCH_RESERVE = 2L << 30;

  public CudaOptions {
    if (device < 0 || groupedMaxRows < 0 || scratchReserveBytes < 0) {
      throw new IllegalArgumentException("device, grouped-max-rows and scratch-reserve must not be negative");
    }
  }

  public static CudaOptions defaults(int device) {
    return new CudaOptions(device, DEFAULT_GROUPED_MAX_ROWS, DEFAULT_SCRATCH_RESERVE);
  }

  public CudaOptions withGroupedMaxRows(int rows) {
    return new CudaOptions(device, rows, scratchReserveBytes);
  }
}
