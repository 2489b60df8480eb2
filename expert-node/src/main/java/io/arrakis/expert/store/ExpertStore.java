package io.arrakis.expert.store;

import io.arrakis.model.kernel.backend.BackendExpert;
import io.arrakis.model.kernel.backend.CpuBackend;
import io.arrakis.model.kernel.backend.ExpertBackend;
import io.arrakis.model.kernel.backend.ExpertWeights;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.proto.v1.DType;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The experts a node holds, loaded from its model files into its backend. Loading and unloading may
 * happen while batches compute: a batch keeps the experts it looked up, and the backend never pulls
 * weights out from under a batch that is computing.
 */
public final class ExpertStore {
  private static final Logger log = LoggerFactory.getLogger(ExpertStore.class);

  private final MoeModel model;
  private final ExpertBackend backend;
  private final ConcurrentMap<ExpertId, BackendExpert> experts = new ConcurrentHashMap<>();

  public ExpertStore(MoeModel model, ExpertBackend backend) {
    this.model = model;
    this.backend = backend;
  }

  /** A store on the CPU backend. */
  public ExpertStore(MoeModel model) {
    this(model, CpuBackend.start());
  }

  public MoeModel model() {
    return model;
  }

  public ExpertBackend backend() {
    return backend;
  }

  public int hiddenSize() {
    return model.config().hiddenSize();
  }

  /**
   * Loads the experts not yet held; synchronized so two loads of one expert read its weights once.
   * Experts that would not fit on the device are refused before any of them is loaded.
   *
   * @throws io.arrakis.model.kernel.backend.DeviceMemoryException when they do not fit
   */
  public synchronized void load(Collection<ExpertId> ids) throws IOException {
    List<ExpertId> missing =
        ids.stream().distinct().filter(id -> !experts.containsKey(id)).toList();
    List<ExpertWeights> weights = new ArrayList<>(missing.size());
    long bytes = 0;
    for (ExpertId id : missing) {
      ExpertWeights w = model.expertWeights(id.layer(), id.expert());
      weights.add(w);
      bytes += backend.computeDtype() == DType.BFLOAT16 ? w.bf16Bytes() : 2 * w.bf16Bytes();
    }
    backend.checkRoom(missing.size(), bytes);
    for (int i = 0; i < missing.size(); i++) {
      experts.put(missing.get(i), backend.load(weights.get(i)));
    }
    log.info("holding {} experts after loading {}", experts.size(), ids.size());
  }

  /** Drops experts; unknown ones are ignored. */
  public synchronized void unload(Collection<ExpertId> ids) {
    for (ExpertId id : ids) {
      BackendExpert e = experts.remove(id);
      if (e != null) {
        backend.unload(e);
      }
    }
    log.info("holding {} experts after unloading {}", experts.size(), ids.size());
  }

  public Optional<BackendExpert> get(ExpertId id) {
    return Optional.ofNullable(experts.get(id));
  }

  /** Held experts, sorted. */
  public List<ExpertId> held() {
    return experts.keySet().stream().sorted().toList();
  }

  /** Bytes of weights held on the backend's device. */
  public long weightBytes() {
    return experts.values().stream().mapToLong(BackendExpert::weightBytes).sum();
  }
}
