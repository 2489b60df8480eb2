package io.arrakis.loadtest.cluster;

import io.arrakis.model.config.ModelConfig;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.PlacementJson;
import io.arrakis.model.placement.Strategies;
import java.io.IOException;
import java.nio.file.Files;
import java.util.List;

/**
 * The placement a local cluster starts with: from a strategy, or from a file, checked against the
 * model.
 */
public final class PlacementPlan {
  private PlacementPlan() {}

  /** The placement for {@code o}, without addresses (the nodes get theirs when they start). */
  public static Placement resolve(ClusterOptions o) throws IOException {
    List<Integer> moeLayers;
    ModelConfig config;
    try (MoeModel model = MoeModel.open(o.model())) {
      moeLayers = model.moeLayers();
      config = model.config();
    }
    if (o.placementFile() == null) {
      return Strategies.place(
          o.strategy(), o.nodes(), o.replicas(), moeLayers, config.numExperts());
    }
    if (!Files.isRegularFile(o.placementFile())) {
      throw new IllegalArgumentException("placement file " + o.placementFile() + " does not exist");
    }
    Placement p = PlacementJson.read(o.placementFile());
    if (p.nodes().isEmpty()) {
      throw new IllegalArgumentException("placement file " + o.placementFile() + " lists no nodes");
    }
    if (o.nodes() != null && o.nodes() != p.nodes().size()) {
      throw new IllegalArgumentException(
          "placement file "
              + o.placementFile()
              + " has "
              + p.nodes().size()
              + " nodes but --nodes says "
              + o.nodes());
    }
    try {
      p.checkCovers(moeLayers, config.numExperts());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(o.placementFile() + ": " + e.getMessage(), e);
    }
    // every local node listens on 127.0.0.1 on a port it picks: addresses in the file cannot hold
    return new Placement(p.version(), p.nodes().stream().map(n -> n.withAddress(null)).toList());
  }
}
