package io.arrakis.expert.store;

import io.arrakis.model.placement.ExpertId;

import io.arrakis.model.kernel.ExpertKernel;
import io.arrakis.model.moe.MoeModel;
import java.io.IOException;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The experts a node holds, loaded from its model files. Loading and unloading may happen while
 * batches compute: a batch keeps the kernels it looked up, so an unload never pulls weights out
 * from under it.
 */
public final class ExpertStore {
  private static final Logger log = LoggerFactory.getLogger(ExpertStore.class);

  private final MoeModel model;
  private final ConcurrentMap<ExpertId, ExpertKernel> experts = new ConcurrentHashMap<>();

  public ExpertStore(MoeModel model) {
    this.model = model;
  }

  public MoeModel model() {
    return model;
  }

  public int hiddenSize() {
    return model.config().hiddenSize();
  }

  /** Loads the experts not yet held; synchronized so two loads of one expert read its weights once. */
  public synchronized void load(Collection<ExpertId> ids) throws IOException {
    for (ExpertId id : ids) {
      if (!experts.containsKey(id)) {
        experts.put(id, model.expert(id.layer(), id.expert()));
      }
    }
    log.info("holding {} experts after loading {}", experts.size(), ids.size());
  }

  /** Drops experts; unknown ones are ignored. */
  public synchronized void unload(Collection<ExpertId> ids) {
    ids.forEach(experts::remove);
    log.info("holding {} experts after unloading {}", experts.size(), ids.size());
  }

  public Optional<ExpertKernel> get(ExpertId id) {
    return Optional.ofNullable(experts.get(id));
  }

  /** Held experts, sorted. */
  public List<ExpertId> held() {
    return experts.keySet().stream().sorted().toList();
  }
}
