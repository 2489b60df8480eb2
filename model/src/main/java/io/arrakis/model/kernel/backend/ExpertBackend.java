package io.arrakis.model.kernel.backend;

import io.arrakis.model.tensor.TensorCheckException;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.Tensor;
import java.io.IOException;
import java.util.List;

/**
 * Where an expert node's experts live and compute: the seam between the node and its device. A
 * backend loads an expert's weights into its own layout and memory, and computes a batch: each row
 * for some of the loaded experts with gate weights, summed into one partial-sum row per token.
 *
 * <p>Two implementations, chosen when the node starts: {@link CpuBackend} (ND4J's arrays and
 * OpenBLAS, float32) and {@code CudaBackend} (one GPU, bf16 weights with float32 accumulation).
 * {@link #compute} is called by several compute threads at once.
 */
public interface ExpertBackend extends AutoCloseable {
  /** {@code cpu} or {@code cuda}. */
  String name();

  /** The device it computes on, in words, e.g. {@code cuda:0 (NVIDIA H200, 139.8 GiB, sm 9.0)}. */
  String device();

  /** The element type of its weights and products: FLOAT32 or BFLOAT16 (float32 accumulation). */
  DType computeDtype();

  /**
   * Refuses, before any is loaded, experts whose weights ({@code bytes} in the compute dtype) would
   * not fit in what the device has free; the message says how much that is.
   */
  default void checkRoom(int experts, long bytes) throws DeviceMemoryException {}

  /**
   * Lays out and stores one expert; the weights' buffers are only read during the call.
   *
   * @throws DeviceMemoryException when the device has no room for it
   */
  BackendExpert load(ExpertWeights weights) throws IOException;

  /** Drops an expert; a batch computing with it when this is called still finishes correctly. */
  void unload(BackendExpert expert);

  /**
   * The partial sums of a batch: row i = Σ weight × expert(x_i) over the work items that list row
   * i, added in list order, zero where none does. {@code hiddenStates} has passed {@code
   * TensorChecks.checkActivations}; the answer is [T, d] in its dtype (FLOAT32 or BFLOAT16).
   *
   * @throws TensorCheckException when the rows hold NaN or infinite values
   */
  Tensor compute(Tensor hiddenStates, List<BackendWork> work) throws TensorCheckException;

  /** Frees what the backend holds; called once, after the last batch. */
  @Override
  void close();
}
