package io.arrakis.model.kernel;

import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The per-thread ND4J workspace that compute runs in. ND4J frees native memory only when arrays are
 * garbage-collected; inside a workspace every temporary array of a batch reuses the same native
 * block, so off-heap memory stays flat however many batches a thread computes.
 */
public final class ComputeWorkspace {
  private static final WorkspaceConfiguration CONFIG = WorkspaceConfiguration.builder()
      .initialSize(0)
      .policyAllocation(AllocationPolicy.OVERALLOCATE)
      .overallocationLimit(0.2)
      .policyLearning(LearningPolicy.OVER_TIME)
      .cyclesBeforeInitialization(2)
      .policySpill(SpillPolicy.REALLOCATE)
      .build();

  private ComputeWorkspace() {}

  /**
   * Opens the calling thread's compute workspace; arrays created until it is closed live in it and
   * must not be used after.
   */
  public static MemoryWorkspace open() {
    return Nd4j.getWorkspaceManager().getAndActivateWorkspace(CONFIG, "arrakis-compute");
  }
}
